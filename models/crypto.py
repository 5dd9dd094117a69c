"""Face encodings are encrypted at rest (Fernet, key derived from the service secret)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence

import numpy as np
from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def _fernet(secret: str) -> Fernet:
    key = hashlib.sha256(b"baodao-face-templates:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


class TemplateCipher:
    """Encrypts and decrypts 128-d float64 encodings.

    Encrypts with the first secret and decrypts with any of them (during a key rotation both
    the new and the old key are known). With `source`, the secrets are read again when a
    template does not decrypt and before each encryption, so a running service follows a
    rotation made by `baodao secret rotate` in another process.
    """

    def __init__(
        self, secret: str, *older: str, source: Callable[[], Sequence[str]] | None = None
    ) -> None:
        self._source = source
        self._secrets: tuple[str, ...] = ()
        self._use((secret, *older))

    def _use(self, secrets: Sequence[str]) -> bool:
        """Switch to these secrets; False when they are the ones in use."""
        if tuple(secrets) == self._secrets:
            return False
        self._secrets = tuple(secrets)
        self._fernet = MultiFernet([_fernet(s) for s in secrets])
        return True

    def _reload(self) -> bool:
        return self._source is not None and self._use(self._source())

    def encrypt(self, encoding: np.ndarray) -> bytes:
        self._reload()
        return self._fernet.encrypt(np.asarray(encoding, dtype="<f8").tobytes())

    def decrypt(self, token: bytes) -> np.ndarray:
        """The encoding; raises ValueError if the token was made with another secret."""
        try:
            raw = self._fernet.decrypt(token)
        except InvalidToken:
            try:
                if not self._reload():
                    raise
                raw = self._fernet.decrypt(token)
            except InvalidToken as exc:
                raise ValueError("face template cannot be decrypted with this secret key") from exc
        return np.frombuffer(raw, dtype="<f8").copy()

    def reencrypt(self, token: bytes) -> bytes:
        """The token encrypted with the first secret (decrypted with any of them)."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise ValueError("face template cannot be decrypted with these secret keys") from exc
