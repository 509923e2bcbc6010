"""The registry as the zone holds it: the schema of the export, ingest (validation, tokenizing
and encryption into an atomically switched dataset version), the versions, the indexes and
the :class:`Zone` lookups over the live version.

Schema: :data:`TABLES` (each table's :class:`TableSpec`, every column with its
:class:`ColumnClass`). Ingest: :func:`ingest` -> :class:`IngestReport`. Lookups: :class:`Zone`
(persons by ID number or token, enrolments, family bindings, guardians),
:func:`inspect_zone`. Versions: :func:`list_versions`, :func:`rollback`. Errors are those of
:mod:`enclave.errors` (``SourceError``, ``IngestError``, ``DatasetError``).
"""

from enclave.dataset._enrol import (
    ENROLMENT_FILE,
    EnrolmentProgress,
    EnrolmentReject,
    EnrolmentReport,
    enroll_faces,
)
from enclave.dataset._ingest import IngestReport, Progress, TableReport, ingest
from enclave.dataset._templates import FaceTemplates, open_template, seal_template
from enclave.dataset._versions import VersionInfo, list_versions, rollback
from enclave.dataset._zone import (
    BindingRecord,
    EnrolmentRecord,
    PersonRecord,
    TableSummary,
    Zone,
    ZoneSummary,
    inspect_zone,
)
from enclave.dataset.schema import FACE_TEMPLATE_DIM, TABLES, ColumnClass, TableSpec, enum_values

__all__ = [
    "ENROLMENT_FILE",
    "FACE_TEMPLATE_DIM",
    "TABLES",
    "BindingRecord",
    "ColumnClass",
    "EnrolmentProgress",
    "EnrolmentRecord",
    "EnrolmentReject",
    "EnrolmentReport",
    "FaceTemplates",
    "IngestReport",
    "PersonRecord",
    "Progress",
    "TableReport",
    "TableSpec",
    "TableSummary",
    "VersionInfo",
    "Zone",
    "ZoneSummary",
    "enroll_faces",
    "enum_values",
    "ingest",
    "inspect_zone",
    "list_versions",
    "open_template",
    "rollback",
    "seal_template",
]
