"""What crosses the wire: RPC payload schemas and event schemas, shared by callers and callees.

A contract changes only by adding optional fields, so old and new peers keep talking.
"""
