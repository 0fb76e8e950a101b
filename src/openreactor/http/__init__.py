"""The HTTP front: Starlette routes that translate HTTP into session-host calls, and back."""
