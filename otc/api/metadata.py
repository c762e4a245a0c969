from rest_framework.metadata import SimpleMetadata


class EnvelopeMetadata(SimpleMetadata):
    """``OPTIONS`` answers in the API's ``{"data": ...}`` envelope like every other success."""

    def determine_metadata(self, request, view) -> dict:
        meta = super().determine_metadata(request, view)
        return {
            "data": {
                "name": meta["name"],
                "description": meta["description"],
                "allowedMethods": view.allowed_methods,
            }
        }
