"""The FastAPI service (``imprint serve``): routes under ``/v1``, docs at ``/v1/docs``."""

from service.api.app import create_app

__all__ = ["create_app"]
