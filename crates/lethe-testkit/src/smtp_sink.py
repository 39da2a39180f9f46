"""A real SMTP server for Lethe's tests (lethe-testkit's smtp module), built on aiosmtpd.

It listens on a free port of 127.0.0.1, prints `listening on 127.0.0.1:PORT` once it does,
and writes each message it accepts to FOLDER as a JSON file (NNNNNN.json, written under
another name first and renamed, so a reader never sees half a file): the envelope, the
headers and the text as Python's `email` package decodes them, and the raw message.

--refuse ADDRESS answers RCPT TO for that address with 550 (no such user), --defer with 451
(try again later), --login USER:PASSWORD accepts that login (AUTH PLAIN or LOGIN, also without
TLS), and --slow SECONDS waits that long before answering the message's data. The server
stops when its standard input closes: the test that started it has finished or died.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, folder, refuse, defer, slow):
        self.folder = folder
        self.refuse = {address.lower() for address in refuse}
        self.defer = {address.lower() for address in defer}
        self.slow = slow
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address.lower() in self.defer:
            return f"451 4.2.0 <{address}>: Recipient address deferred: try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.slow:
            await asyncio.sleep(self.slow)
        content = envelope.original_content or envelope.content
        message = email.message_from_bytes(content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        login = session.auth_data if isinstance(session.auth_data, str) else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "login": login,
            "headers": [[name, str(value)] for name, value in message.items()],
            "subject": str(message.get("subject", "")),
            "from": str(message.get("from", "")),
            "to": str(message.get("to", "")),
            "date": str(message["date"]) if message["date"] is not None else None,
            "message_id": str(message["message-id"]) if message["message-id"] is not None else None,
            "content_type": message.get_content_type(),
            "charset": message.get_content_charset(),
            "text": body.get_content() if body is not None else None,
            "raw": content.decode("utf-8", errors="replace"),
        }
        self.count += 1
        name = os.path.join(self.folder, f"{self.count:06d}")
        with open(name + ".part", "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
        os.replace(name + ".part", name + ".json")
        return "250 2.0.0 Ok: queued"


def authenticator_for(expected_login, expected_password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode("utf-8", errors="replace") == expected_login
            and auth_data.password.decode("utf-8", errors="replace") == expected_password
        ):
            return AuthResult(success=True, auth_data=expected_login)
        return AuthResult(success=False, handled=False)

    return authenticate


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", required=True)
    parser.add_argument("--refuse", action="append", default=[])
    parser.add_argument("--defer", action="append", default=[])
    parser.add_argument("--login")
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    handler = Sink(args.folder, args.refuse, args.defer, args.slow)
    # A fixed host name: the default asks the resolver for this machine's name, which can
    # hang on a machine without DNS.
    options = {
        "hostname": "lethe-test-sink",
        "ident": "Lethe test sink (aiosmtpd)",
        "enable_SMTPUTF8": True,
    }
    if args.login:
        login, _, password = args.login.partition(":")
        options["authenticator"] = authenticator_for(login, password)
        options["auth_require_tls"] = False

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **options), host="127.0.0.1", port=args.port
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    # Returns when standard input closes.
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
