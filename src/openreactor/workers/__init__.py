"""Cloud plane on one machine (``serve --workers N``): sessions in a pool of worker processes.

Each worker process loads the model once and hosts one session at a time with the ordinary
``InProcessSessionHost`` behind a small internal HTTP API on a unix socket (``worker_app``);
the front talks to it through ``RemoteSessionHost`` (``remote``), and ``WorkerRegistry`` (``pool``)
hands out free workers, enforces capacity, per-key limits and maximum durations, and replaces a
worker whose process dies. Media flows between the client and the worker process directly.
"""
