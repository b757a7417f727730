"""How the pipeline's Kafka clients authenticate and encrypt: one rule for both client libraries.

Settings (`[stockpipe]`): `security_protocol` (PLAINTEXT, SSL, SASL_SSL, SASL_PLAINTEXT), `sasl_mechanism`
(SCRAM-SHA-512, SCRAM-SHA-256, PLAIN), `sasl_username`, the password from exactly one source
(`sasl_password_file`, the environment variable named by `sasl_password_env`, or the AWS SSM
SecureString parameter named by `sasl_password_ssm`; never a command-line argument), and
`ssl_ca_file` (PEM; empty = the system's trust store). Hostname verification stays on: the broker's
certificate must name the address the client connects to.

`client_security(settings)` resolves them once into a `ClientSecurity`, whose `confluent()` and
`kafka_python()` give each library's configuration; `explain()` turns the libraries' authentication
and TLS failures into one line that says what failed and how to fix it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
PASSWORD_SOURCES = ("sasl_password_file", "sasl_password_env", "sasl_password_ssm")


@dataclass(frozen=True)
class ClientSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never printed, never in a process argument
    ca_file: str | None = None

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def confluent(self) -> dict[str, Any]:
        """librdkafka properties (producer, consumer and admin alike)."""
        out: dict[str, Any] = {"security.protocol": self.protocol}
        if self.sasl:
            out |= {
                "sasl.mechanism": self.mechanism,
                "sasl.username": self.username,
                "sasl.password": self.password,
            }
        if self.tls:
            out["ssl.endpoint.identification.algorithm"] = "https"  # hostname verification, explicitly on
            if self.ca_file:
                out["ssl.ca.location"] = self.ca_file
        return out

    def kafka_python(self) -> dict[str, Any]:
        """kafka-python keyword arguments (KafkaProducer, KafkaConsumer, KafkaAdminClient alike)."""
        out: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            out |= {
                "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.tls:
            out["ssl_check_hostname"] = True
            if self.ca_file:
                out["ssl_cafile"] = self.ca_file
        return out


PLAINTEXT = ClientSecurity()


def security_problem(values: dict[str, Any]) -> str | None:
    """Why these settings cannot connect securely as written, or None (checked with the other settings)."""
    protocol = values.get("security_protocol") or "PLAINTEXT"
    if protocol not in PROTOCOLS:
        return f"security_protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}"
    sources = [s for s in PASSWORD_SOURCES if values.get(s)]
    if protocol.startswith("SASL_"):
        mechanism = values.get("sasl_mechanism") or "SCRAM-SHA-512"
        if mechanism not in MECHANISMS:
            return f"sasl_mechanism {mechanism!r} is not one of {', '.join(MECHANISMS)}"
        if not values.get("sasl_username"):
            return f"security_protocol {protocol} needs sasl_username"
        if len(sources) != 1:
            return (
                f"security_protocol {protocol} needs the password from exactly one of "
                f"{', '.join(PASSWORD_SOURCES)} (got {len(sources)})"
            )
    elif sources or values.get("sasl_username"):
        return f"SASL settings are set but security_protocol is {protocol}: use SASL_SSL"
    ca = values.get("ssl_ca_file")
    if ca and not Path(ca).is_file():
        return f"ssl_ca_file {ca} does not exist"
    return None


def client_security(settings: Any) -> ClientSecurity:
    """The clients' security from settings, with the password read from its source now."""
    protocol = settings.security_protocol or "PLAINTEXT"
    if protocol == "PLAINTEXT":
        return PLAINTEXT
    password = None
    if protocol.startswith("SASL_"):
        password = _password(settings)
    return ClientSecurity(
        protocol=protocol,
        mechanism=(settings.sasl_mechanism or "SCRAM-SHA-512") if protocol.startswith("SASL_") else None,
        username=settings.sasl_username,
        password=password,
        ca_file=settings.ssl_ca_file or None,
    )


def _password(settings: Any) -> str:
    if settings.sasl_password_file:
        path = Path(settings.sasl_password_file)
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PipelineError(
                f"cannot read the Kafka password file {path} ({exc.strerror or exc})",
                "fix sasl_password_file or its permissions (the service user must read it)",
            ) from None
        if not text:
            raise PipelineError(f"the Kafka password file {path} is empty", "write the password into it")
        return text
    if settings.sasl_password_env:
        value = os.environ.get(settings.sasl_password_env)
        if not value:
            raise PipelineError(
                f"environment variable {settings.sasl_password_env} (sasl_password_env) is not set",
                "set it in the service's environment file, or choose another password source",
            )
        return value
    from pipeline import aws

    client = aws.aws_client("ssm", settings)
    try:
        reply = client.get_parameter(Name=settings.sasl_password_ssm, WithDecryption=True)
    except aws.AWS_ERRORS as exc:
        raise aws.aws_error(
            exc, "SSM", f"read parameter {settings.sasl_password_ssm}", settings.aws_endpoint_url
        ) from None
    return str(reply["Parameter"]["Value"])


def explain(detail: str, bootstrap: str, security: ClientSecurity) -> PipelineError | None:
    """One line for an authentication or TLS failure in a client's error text, or None if it is not one."""
    text = detail.lower()
    if "certificate" in text or "ssl handshake" in text or "handshake failed" in text:
        return PipelineError(
            f"TLS to Kafka at {bootstrap} failed: {_short(detail)}",
            "set ssl_ca_file to the CA that signed the brokers' certificates (the cluster's ca.pem), and "
            "connect by a name or address the certificate covers",
        )
    if "authentication" in text or "authenticat" in text:
        who = f"user {security.username!r}" if security.username else "an anonymous client"
        return PipelineError(
            f"Kafka at {bootstrap} refused the login of {who} ({security.mechanism or 'no SASL'}): "
            f"{_short(detail)}",
            "check sasl_username and the password source (a rotated password?), and that the cluster "
            "listener expects this security_protocol and sasl_mechanism",
        )
    closed = ("disconnect", "connection closed", "closing connection", "unable to determine broker version")
    if security.protocol == "PLAINTEXT" and any(w in text for w in closed) and "refused" not in text:
        return PipelineError(
            f"Kafka at {bootstrap} closed the connection during the handshake: {_short(detail)}",
            'the listener may require encryption and a login: set security_protocol = "SASL_SSL", '
            "sasl_username and a password source",
        )
    return None


def _short(detail: str) -> str:
    """The client's reason without its log prefix, and not too long for one line."""
    text = detail.split("]: ", 1)[-1].strip()
    return text[:240] + ("..." if len(text) > 240 else "")


def not_authorized(bootstrap: str, security: ClientSecurity, what: str, detail: str) -> PipelineError:
    """The one line for an ACL that refuses this principal `what` (e.g. "write topic stock-prices")."""
    who = f"user {security.username!r}" if security.username else "an anonymous client"
    return PipelineError(
        f"Kafka at {bootstrap} has not authorized {who} to {what} ({_short(detail)})",
        "use the credentials made for this job (the producer's to write, the sink's to read with its group), "
        "or have the cluster's operator grant the ACL (pipeline/kafka/acls.py lists what each job needs)",
    )
