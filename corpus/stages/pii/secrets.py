"""Presidio recognizers for credentials: cloud and SaaS keys, tokens, private keys, URL passwords.

A leaked key in a training corpus is a key a model can repeat. Each pattern follows the issuer's
published token shape (prefix, alphabet, length), is case-sensitive, and where a shape allows it the
match is checked further (a JWT's header must decode to JSON naming an algorithm). Placeholders such
as ``${PASSWORD}`` or ``xxxx`` are rejected, so documentation about keys is left alone.
"""

from __future__ import annotations

import base64
import binascii
import json

import regex
from presidio_analyzer import Pattern, PatternRecognizer

_FLAGS = regex.DOTALL | regex.MULTILINE  # case-sensitive, unlike Presidio's default
# Credentials found whole: a digit run inside one (a Luhn-valid "card" in a Slack token) is part of it.
SECRET_ENTITIES = frozenset({"AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "SLACK_TOKEN", "GOOGLE_API_KEY",
                             "OPENAI_API_KEY", "JWT", "PRIVATE_KEY", "URL_PASSWORD"})
_PLACEHOLDER = regex.compile(r"^(?:[xX*._-]+|\$\{.*\}|\{\{.*\}\}|<.*>|%\(.*\)s?|(?i:password|passwd|secret|changeme|pass))$")


class SecretRecognizer(PatternRecognizer):
    """A case-sensitive pattern recognizer that refuses obvious placeholders."""

    def __init__(self, entity: str, patterns: list[Pattern], context: list[str] | None = None):
        super().__init__(supported_entity=entity, patterns=patterns, context=context or [],
                         name=f"{entity.title().replace('_', '')}Recognizer", global_regex_flags=_FLAGS)

    def invalidate_result(self, pattern_text: str) -> bool:
        return bool(_PLACEHOLDER.match(pattern_text)) or len(set(pattern_text)) < 6


class JwtRecognizer(SecretRecognizer):
    """``header.payload.signature``, where the header is base64url JSON with an ``alg``."""

    def validate_result(self, pattern_text: str) -> bool:
        header = pattern_text.split(".", 1)[0]
        try:
            decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        except (ValueError, binascii.Error):
            return False
        return isinstance(decoded, dict) and "alg" in decoded


class UrlPasswordRecognizer(SecretRecognizer):
    """The password in ``scheme://user:password@host``: only the password is the secret."""

    def invalidate_result(self, pattern_text: str) -> bool:
        return bool(_PLACEHOLDER.match(pattern_text))


def secret_recognizers() -> list[PatternRecognizer]:
    """One recognizer per credential type; scores are high because the shapes are specific."""
    return [
        SecretRecognizer("AWS_ACCESS_KEY", [
            Pattern("aws access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}\b", 0.9)]),
        SecretRecognizer("AWS_SECRET_KEY", [
            Pattern("aws secret after its name",
                    r"(?i:(?<=aws.{0,20}secret.{0,20}[=:\"'\s]{1,4}))[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", 0.85)]),
        SecretRecognizer("GITHUB_TOKEN", [
            Pattern("github token", r"\bgh[pousr]_[A-Za-z0-9]{36,251}\b", 0.95),
            Pattern("github fine-grained pat", r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b", 0.95)]),
        SecretRecognizer("SLACK_TOKEN", [
            Pattern("slack token", r"\bxox[abposre]-(?:[0-9A-Za-z]{2,}-){1,4}[0-9A-Za-z]{6,}\b", 0.9),
            Pattern("slack webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}", 0.9)]),
        SecretRecognizer("GOOGLE_API_KEY", [Pattern("google api key", r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])", 0.9)]),
        SecretRecognizer("OPENAI_API_KEY", [
            Pattern("sk- key", r"\bsk-(?:[a-z]{2,8}-)?[A-Za-z0-9_-]{32,200}(?![A-Za-z0-9_-])", 0.85),
            Pattern("legacy sk- key", r"\bsk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}\b", 0.95)]),
        JwtRecognizer("JWT", [
            Pattern("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}", 0.9)]),
        SecretRecognizer("PRIVATE_KEY", [
            Pattern("pem private key",
                    r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----[A-Za-z0-9+/=\s:,-]+?"
                    r"-----END ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----", 0.95)]),
        UrlPasswordRecognizer("URL_PASSWORD", [
            Pattern("password in url", r"(?<=\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s/:@]{1,128}:)[^\s/@]{1,256}(?=@[^\s@])",
                    0.8)]),
    ]
