"""Scale-out: ``openreactor coordinator`` and ``openreactor worker`` sharing one Redis.

``store`` holds every piece of shared state (workers, sessions, placements, keys, secrets) and the
Lua scripts that change it atomically; ``node`` is a worker machine (a pool of worker processes
behind an authenticated internal API that announces itself to Redis); ``coordinator`` is the
stateless public front. docs/SCALE-OUT.md has the picture.
"""
