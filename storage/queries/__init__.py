"""Every SQL statement shared by the use cases, the runtime and the read models, one module per table group.

Each function takes a :class:`storage.db.Database` and returns rows in wire form (camelCase dicts, as the
HTTP API answers) or the pure engine's model types; none opens a transaction of its own unless it says so.
"""
