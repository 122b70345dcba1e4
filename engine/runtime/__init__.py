"""The process that runs the escalation engine: it fires due escalation steps, keeps the engine lease and
delivers the page queue. Everything here does I/O through ``storage/``; the rules it applies are the pure
modules of ``engine/``."""
