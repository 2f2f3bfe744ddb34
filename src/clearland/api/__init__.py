"""HTTP: the FastAPI app built by ``create_app(settings)`` (in ``clearland.api.app``)."""
