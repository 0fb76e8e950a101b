"""Session state machines: clients, commands, timers. No HTTP, no aiortc."""
