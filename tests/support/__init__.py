"""Helpers shared by the tests: servers and paths, waiting, child processes, raw WebRTC
clients, resource counts, the cluster harness; ``support/models`` holds test models that
server processes load by module name (it is on their ``PYTHONPATH``)."""
