"""HTTP layer: thin FastAPI/Starlette handlers that parse input, call a service and render output."""
