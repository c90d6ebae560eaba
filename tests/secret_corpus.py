"""Log lines carrying a secret of every kind issue 18 names, each secret made up fresh per seed (so that no real
or well-known key sits in the repository, and the detectors cannot be tuned to one value)."""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Secret:
    kind: str  # the marker redaction should leave: <REDACTED:kind>
    value: str  # what must appear nowhere after redaction
    line: str


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = body + check
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
                    for i, d in enumerate(map(int, reversed(digits))))
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def _word(rng: random.Random, n: int, chars: str = _ALNUM) -> str:
    return "".join(rng.choice(chars) for _ in range(n))


def _jwt(rng: random.Random) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': _word(rng, 10), 'iat': rng.randrange(10**9)})}." \
           f"{_word(rng, 43, _ALNUM + '-_')}"


def secrets(seed: int = 0) -> list[Secret]:
    rng = random.Random(seed)
    pw = _word(rng, 10, _ALNUM + "!@#%^*")
    card_visa = _luhn_complete("4", 16, rng)
    card_mc = _luhn_complete("5" + rng.choice("12345"), 16, rng)
    card_amex = _luhn_complete("3" + rng.choice("47"), 15, rng)
    aws_id = "AKIA" + _word(rng, 16, string.ascii_uppercase + string.digits)
    aws_secret = _word(rng, 40, _ALNUM + "+/")
    pem = base64.b64encode(rng.randbytes(96)).decode()
    jwt = _jwt(rng)
    db_pw = _word(rng, 14)
    out = [
        Secret("password", pw, f"2026-11-01T10:00:00Z INFO auth-service: login user=bob password={pw} ok"),
        Secret("password", db_pw, json.dumps({"timestamp": "2026-11-01T10:00:01Z", "service": "orders",
                                               "message": "db connect", "db_password": db_pw})),
        Secret("password", (v := _word(rng, 12)),
               json.dumps({"message": f"config loaded {json.dumps({'client_secret': v})}"})),
        Secret("password", (v := _word(rng, 24)), f"2026-11-01T10:00:02Z WARN api: retry with api_key: {v}"),
        Secret("password", (v := _word(rng, 16)), f"2026-11-01T10:00:03Z INFO deploy: running --password {v}"),
        Secret("authorization", (v := _word(rng, 32)),
               f"2026-11-01T10:00:04Z DEBUG gateway: header Authorization: Bearer {v}"),
        Secret("authorization", (v := base64.b64encode(f"admin:{_word(rng, 9)}".encode()).decode()),
               f"2026-11-01T10:00:05Z DEBUG gateway: Authorization: Basic {v}"),
        Secret("jwt", jwt, f"2026-11-01T10:00:06Z INFO auth-service: issued token {jwt} to user carol"),
        Secret("url_password", db_pw + "x",
               f"2026-11-01T10:00:07Z ERROR orders: cannot reach postgres://app:{db_pw}x@db.internal:5432/orders"),
        Secret("aws_access_key", aws_id, f"2026-11-01T10:00:08Z INFO s3-sync: using access key {aws_id}"),
        Secret("aws_secret_key", aws_secret, f"2026-11-01T10:00:09Z DEBUG s3-sync: AWS secret key: {aws_secret}"),
        Secret("aws_secret_key", (v := _word(rng, 40, _ALNUM + "+/")),
               f"2026-11-01T10:00:10Z DEBUG env: AWS_SECRET_ACCESS_KEY={v}"),
        Secret("card_number", card_visa, f"2026-11-01T10:00:11Z INFO payments: charged card {card_visa} 12.50 EUR"),
        Secret("card_number", (v := " ".join(card_mc[i:i + 4] for i in range(0, 16, 4))),
               f"2026-11-01T10:00:12Z INFO payments: card {v} declined"),
        Secret("card_number", card_amex, json.dumps({"message": "refund", "card": card_amex})),
        Secret("stripe_key", (v := "sk_live_" + _word(rng, 24)),
               f"2026-11-01T10:00:13Z ERROR billing: key {v} revoked"),
        Secret("github_token", (v := "ghp_" + _word(rng, 36)), f"2026-11-01T10:00:14Z INFO ci: cloning with {v}"),
        Secret("gitlab_token", (v := "glpat-" + _word(rng, 20)), f"2026-11-01T10:00:15Z INFO ci: gitlab token {v}"),
        Secret("slack_token", (v := f"xoxb-{rng.randrange(10**11, 10**12)}-{_word(rng, 24)}"),
               f"2026-11-01T10:00:16Z INFO notify: posting with {v}"),
        Secret("google_api_key", (v := "AIza" + _word(rng, 35, _ALNUM + "-_")),
               f"2026-11-01T10:00:17Z INFO maps: geocode key={v}"),
        Secret("private_key", pem[:64],
               f"2026-11-01T10:00:18Z ERROR tls: bad key -----BEGIN RSA PRIVATE KEY-----{pem}-----END RSA PRIVATE "
               "KEY-----"),
        Secret("key_material", (v := base64.b64encode(rng.randbytes(48)).decode()), v),  # a PEM body line alone
        Secret("password", (v := base64.b64encode(rng.randbytes(64)).decode()),
               f"2026-11-01T10:00:19Z INFO storage: DefaultEndpointsProtocol=https;AccountName=logs;AccountKey={v};"
               "EndpointSuffix=core.windows.net"),
        Secret("authorization", (v := _word(rng, 26)),
               f"2026-11-01T10:00:20Z DEBUG web: request headers Cookie: sessionid={v}; theme=dark"),
        Secret("password", (v := _word(rng, 11)), f"2026-11-01T10:00:21Z INFO ftp: user=ops pass={v} connected"),
        Secret("password", (v := _word(rng, 30)), f"2026-11-01T10:00:22Z WARN web: csrftoken={v} expired"),
        Secret("password", (v := _word(rng, 13)), f"2026-11-01T10:00:23Z INFO jdbc: dbPassword={v} url=jdbc:x"),
    ]
    return out


def leaked(blob: bytes, corpus: list[Secret]) -> list[Secret]:
    """The secrets of `corpus` whose value shows anywhere in `blob` (UTF-8, or JSON-escaped)."""
    return [s for s in corpus if s.value.encode() in blob or json.dumps(s.value)[1:-1].encode() in blob]
