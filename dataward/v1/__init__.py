"""Generated gRPC stubs for package dataward.v1 (``make protos`` regenerates)."""
