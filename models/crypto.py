"""Face encodings are encrypted at rest (Fernet, key derived from the service secret)."""

from __future__ import annotations

import base64
import hashlib

import numpy as np
from cryptography.fernet import Fernet, InvalidToken


class TemplateCipher:
    """Encrypts and decrypts 128-d float64 encodings."""

    def __init__(self, secret: str) -> None:
        key = hashlib.sha256(b"baodao-face-templates:" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, encoding: np.ndarray) -> bytes:
        return self._fernet.encrypt(np.asarray(encoding, dtype="<f8").tobytes())

    def decrypt(self, token: bytes) -> np.ndarray:
        """The encoding; raises ValueError if the token was made with another secret."""
        try:
            raw = self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise ValueError("face template cannot be decrypted with this secret key") from exc
        return np.frombuffer(raw, dtype="<f8").copy()
