"""The zone: datasets, keys, consent, identity checks, output gate, audit log.

Never imports a web or RPC framework; everything it releases goes through the output gate.
"""

__all__: list[str] = []
