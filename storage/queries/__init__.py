"""Every SQL statement shared by the use cases, the runtime and the read models, one module per table group.

Each function takes a :class:`storage.db.Database` and returns rows (:class:`sqlite3.Row`, which the use
cases turn into wire form) or the pure engine's model types; none opens a transaction of its own unless it
says so: the caller's ``write()`` or ``read()`` block is the transaction.
"""
