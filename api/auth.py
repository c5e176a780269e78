"""Bearer-token authentication: the token acts as its user, with that user's permissions.

Tokens only: the API takes no session cookie, so no other site can make a signed-in
person's browser call it, and CSRF does not arise (a browser adds no Authorization header
by itself).
"""

from django.http import HttpRequest
from ninja.security import HttpBearer

from api import tokens


class TokenAuth(HttpBearer):
    openapi_description = (
        "A personal API token, made on the portal's API tokens page (/api/tokens/): "
        "`Authorization: Bearer acsp_…`. It acts as its user, with that user's permissions."
    )

    def authenticate(self, request: HttpRequest, token: str):
        return tokens.authenticate(token)
