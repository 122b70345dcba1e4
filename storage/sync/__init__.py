"""Sync with a remote Scaling organisation (docs/SYNC.md).

* :mod:`storage.sync.credentials`: where the API key lives (env, keyring, 0600 file) and how it is masked;
* :mod:`storage.sync.client`: the remote API over httpx (envelopes, errors, retries);
* :mod:`storage.sync.pull`: the remote into the local database;
* :mod:`storage.sync.change_queue`: local changes queued and pushed in order;
* :mod:`storage.sync.runner`: both, continuously, in a background thread (``oncall --sync``).

:mod:`storage.sync.link`: which organisation is synced with which base URL, and the status.

Nothing here imports httpx: the service layer imports the outbox hook on every start.
"""
