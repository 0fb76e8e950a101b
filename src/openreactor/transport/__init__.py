"""aiortc glue: peer connections, output tracks, data-channel pumps. Knows tracks and channels, not commands."""
