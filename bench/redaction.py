"""Recall, false positives and speed of the redaction that runs on every text before it goes to the LLM.

Recall: one file per kind of secret (written to a temp dir, then read back as the diff that adds it), made up
but of each service's real format and in the context it is usually found in. False positives: a generated history
of realistic commits (source, configuration, lockfiles, tests, styles) holding commit SHAs, UUIDs, lockfile
integrity hashes, base64 test data, CSS colours, versions and secret-sounding names with no secret; every
[REDACTED] in it is a false positive. Speed: MB/s of diff redacted by the redaction before issue 12 and now.

    python bench/redaction.py [--commits 500] [--seed 7] [--mb 4]

(Not bench/secrets.py: a script's folder comes first on sys.path, so that name hid the standard library's
`secrets` from every other script in bench/.)
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import random
import string
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.analysis.redact import MARK, redact  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OLD_COMMIT = "e015e13"  # the redaction before issue 12
ALNUM = string.ascii_letters + string.digits


def formats(rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(kind, file name, file text, the secret in it): one per kind."""
    def r(n: int, alphabet: str = ALNUM) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    def hx(n: int) -> str:
        return r(n, "0123456789abcdef")

    def b64(n: int) -> str:
        return base64.b64encode(rng.randbytes(n)).decode()

    pem = "\n".join(b64(48) for _ in range(6))
    out = []

    def add(kind: str, name: str, template: str, secret: str) -> None:
        head, _, tail = template.rpartition("SECRET")  # the last SECRET: SECRET_KEY_BASE=SECRET
        out.append((kind, name, head + secret + tail, secret))

    add("AWS access key id", "deploy/aws.env", "AWS_ACCESS_KEY_ID=SECRET\n", "AKIA" + r(16, string.ascii_uppercase + string.digits))
    add("AWS secret access key", "deploy/aws.env", "AWS_SECRET_ACCESS_KEY=SECRET\n", r(40, ALNUM + "/+"))
    add("AWS session key id", "scripts/assume.sh", 'export AWS_ACCESS_KEY_ID="SECRET"\n', "ASIA" + r(16, string.ascii_uppercase + string.digits))
    add("GitHub classic token", "ci/publish.sh", "git push https://x:SECRET@github.com/o/r.git\n", "ghp_" + r(36))
    add("GitHub OAuth token", "tools/gh.py", 'HEADERS = {"Authorization": "token SECRET"}\n', "gho_" + r(36))
    add("GitHub app token", "tools/app.py", 'client = Github("SECRET")\n', "ghs_" + r(36))
    add("GitHub fine-grained token", "README.md", "Run `GH_TOKEN=SECRET gh release list`\n", "github_pat_" + r(22) + "_" + r(59))
    add("GitLab personal token", "ci/gitlab.sh", 'curl -H "PRIVATE-TOKEN: SECRET" $API\n', "glpat-" + r(20))
    add("GitLab deploy token", "ci/deploy.sh", "docker login -p SECRET registry.gitlab.com\n", "gldt-" + r(20))
    add("GitLab runner token", "ci/runner.toml", 'token = "SECRET"\n', "glrt-" + r(20))
    add("Slack bot token", "bot/config.py", 'client = WebClient(token="SECRET")\n', f"xoxb-{r(11, string.digits)}-{r(12, string.digits)}-{r(24)}")
    add("Slack user token", "bot/user.js", "const t = 'SECRET';\n", f"xoxp-{r(11, string.digits)}-{r(11, string.digits)}-{r(12, string.digits)}-{hx(32)}")
    add("Slack app token", "bot/.env", "SLACK_APP_TOKEN=SECRET\n", f"xapp-1-A{r(10, string.ascii_uppercase + string.digits)}-{r(13, string.digits)}-{hx(64)}")
    add("Slack webhook", "alerts/notify.py", 'URL = "https://hooks.slack.com/services/SECRET"\n', f"T{r(8, string.ascii_uppercase)}/B{r(10, string.ascii_uppercase)}/{r(24)}")
    add("Discord webhook", "alerts/discord.py", 'requests.post("https://discord.com/api/webhooks/123456789012345678/SECRET")\n', r(68, ALNUM + "_-"))
    add("Discord bot token", "bot/discord.py", 'bot.run("SECRET")\n', "M" + r(23) + "." + r(6) + "." + r(27))
    add("Feishu webhook", "alerts/feishu.go", 'const hook = "https://open.feishu.cn/open-apis/bot/v2/hook/SECRET"\n', str(uuid.UUID(int=rng.getrandbits(128))))
    add("Lark webhook", "alerts/lark.ts", 'const hook = "https://open.larksuite.com/open-apis/bot/v2/hook/SECRET";\n', str(uuid.UUID(int=rng.getrandbits(128))))
    add("Teams webhook", "alerts/teams.yaml", "url: https://acme.webhook.office.com/webhookb2/SECRET\n", f"{uuid.UUID(int=rng.getrandbits(128))}@{uuid.UUID(int=rng.getrandbits(128))}/IncomingWebhook/{hx(32)}")
    add("Telegram bot token", "bot/tg.py", 'updater = Updater("SECRET")\n', f"{r(10, string.digits)}:{r(35, ALNUM + '_-')}")
    add("OpenAI project key", "app/llm.py", 'client = OpenAI(api_key="SECRET")\n', "sk-proj-" + r(48))
    add("OpenAI legacy key", "notebooks/run.md", "openai.api_key = SECRET\n", "sk-" + r(20) + "T3BlbkFJ" + r(20))
    add("Anthropic key", "app/claude.py", 'Anthropic(api_key="SECRET")\n', "sk-ant-api03-" + r(93, ALNUM + "_-") + "AA")
    add("Hugging Face token", "scripts/download.sh", "huggingface-cli login --token SECRET\n", "hf_" + r(34, string.ascii_letters))
    add("npm token", "ci/publish.sh", "echo SECRET | npm login\n", "npm_" + r(36))
    add("npmrc auth token", ".npmrc", "//registry.npmjs.org/:_authToken=SECRET\n", "npm_" + r(36))
    add("PyPI token", "ci/pypirc.sh", "twine upload -p SECRET dist/*\n", "pypi-AgEIcHlwaS5vcmc" + r(70, ALNUM + "_-"))
    add("SendGrid key", "mail/send.py", 'sg = SendGridAPIClient("SECRET")\n', "SG." + r(22, ALNUM + "_-") + "." + r(43, ALNUM + "_-"))
    add("Stripe live key", "billing/stripe.rb", "Stripe.api_key = 'SECRET'\n", "sk_live_" + r(24))
    add("Stripe restricted key", "billing/stripe.js", "const stripe = require('stripe')('SECRET');\n", "rk_live_" + r(24))
    add("Square OAuth secret", "pay/square.py", 'client = Client(access_token="SECRET")\n', "sq0csp-" + r(43, ALNUM + "_-"))
    add("Twilio API key", "sms/twilio.py", 'client = Client("SECRET", auth)\n', "SK" + hx(32))
    add("Mailgun key", "mail/mailgun.py", 'auth=("api", "SECRET")\n', "key-" + hx(32))
    add("Sendinblue key", "mail/brevo.py", 'cfg.api_key["api-key"] = "SECRET"\n', "xkeysib-" + hx(64) + "-" + r(16))
    add("Google API key", "web/maps.js", "const key = 'SECRET';\n", "AIza" + r(35, ALNUM + "_-"))
    add("Google OAuth token", "tools/gdrive.py", 'creds = Credentials("SECRET")\n', "ya29." + r(60, ALNUM + "_-"))
    add("GCP service account key", "deploy/sa.json", '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nSECRET\\n-----END PRIVATE KEY-----\\n"}\n', b64(48))
    add("Azure storage key", "infra/storage.cs", 'var conn = "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=SECRET;EndpointSuffix=core.windows.net";\n', b64(64))
    add("DigitalOcean token", "infra/do.tf", 'provider "digitalocean" { token = "SECRET" }\n', "dop_v1_" + hx(64))
    add("Shopify token", "shop/admin.rb", "session = ShopifyAPI::Session.new(token: 'SECRET')\n", "shpat_" + hx(32))
    add("Linear key", "tools/linear.ts", 'const linear = new LinearClient({ apiKey: "SECRET" });\n', "lin_api_" + r(40))
    add("Postman key", "tools/postman.sh", 'curl -H "X-Api-Key: SECRET" https://api.getpostman.com/me\n', "PMAK-" + hx(24) + "-" + hx(34))
    add("Pulumi token", "ci/pulumi.sh", "pulumi login --token SECRET\n", "pul-" + hx(40))
    add("Grafana service account", "ops/grafana.py", 'headers = {"Authorization": "Bearer SECRET"}\n', "glsa_" + r(32) + "_" + hx(8))
    add("Vault token", "ops/vault.sh", "vault login SECRET\n", "hvs." + r(24, ALNUM + "_-"))
    add("Doppler token", "ops/doppler.sh", "doppler run --token SECRET -- make\n", "dp.pt." + r(43))
    add("Databricks token", "jobs/db.py", 'w = WorkspaceClient(host=h, token="SECRET")\n', "dapi" + hx(32))
    add("Sentry token", "ops/sentry.sh", "sentry-cli --auth-token SECRET releases new v1\n", "sntrys_" + r(60, ALNUM + "+/"))
    add("New Relic key", "ops/newrelic.yml", "license: SECRET\n", "NRAK-" + r(27, string.ascii_uppercase + string.digits))
    add("age secret key", "keys/age.txt", "SECRET\n", "AGE-SECRET-KEY-1" + r(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"))
    add("Alibaba access key", "deploy/aliyun.go", 'client, _ := sdk.NewClientWithAccessKey("cn", "SECRET", s)\n', "LTAI" + r(20))
    add("Tencent secret id", "deploy/tencent.py", 'cred = credential.Credential("SECRET", key)\n', "AKID" + r(32))
    add("RubyGems key", "ci/gem.sh", "gem push pkg.gem --key SECRET\n", "rubygems_" + hx(48))
    add("JSON web token", "tests/fixtures/auth.http", "Authorization: Bearer SECRET\n", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx" + r(20) + "." + r(43, ALNUM + "_-"))
    add("Basic authorization", "scripts/call.sh", 'curl -H "Authorization: Basic SECRET" $URL\n', base64.b64encode(f"admin:{r(10)}".encode()).decode())
    add("URL credentials", "deploy/app.env", "DATABASE_URL=postgres://app:SECRET@db.internal:5432/app\n", r(16))
    add("Redis URL credentials", "config/cache.py", 'REDIS = "redis://:SECRET@cache:6379/0"\n', r(20))
    add("RSA private key", "deploy/tls/server.key", "-----BEGIN RSA PRIVATE KEY-----\nSECRET\n-----END RSA PRIVATE KEY-----\n", pem)
    add("OpenSSH private key", "keys/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET\n-----END OPENSSH PRIVATE KEY-----\n", pem)
    add("private key body without BEGIN", "certs/client.pem", "SECRET\n", pem)
    add("private key body in a chart", "charts/app/values.yaml", "tls:\n  key: |\n    SECRET\n", pem.replace("\n", "\n    "))
    add("PuTTY key", "keys/deploy.ppk", "PuTTY-User-Key-File-2: ssh-rsa\nPrivate-Lines: 1\nSECRET\nPrivate-MAC: " + hx(40) + "\n", b64(48))
    add("DB_PASS", "deploy/db.env", "DB_PASS=SECRET\n", r(12))
    add("letters-only password", ".env", "DATABASE_PASSWORD=SECRET\n", r(18, string.ascii_lowercase))
    add("short quoted password", "app/settings.py", 'password="SECRET"\n', r(7))
    add("YAML password", "config/database.yml", "production:\n  password: SECRET\n", r(14))
    add("Rails secret_key_base", "config/secrets.env", "SECRET_KEY_BASE=SECRET\n", hx(128))
    add("Django SECRET_KEY", "site/settings.py", "SECRET_KEY = 'SECRET'\n", r(50, ALNUM + "!@#%^&*(-_=+)"))
    add("encryption key", "deploy/crypto.env", "ENCRYPTION_KEY=SECRET\n", b64(32))
    add("JSON client secret", "config/oauth.json", '{"client_id": "web", "client_secret": "SECRET"}\n', r(32))
    add("INI passphrase", "config/app.ini", "[tls]\npassphrase = SECRET\n", r(16))
    add("Java properties password", "src/main/resources/app.properties", "spring.datasource.password=SECRET\n", r(15))
    add("Go struct literal token", "cmd/main.go", 'cfg := Config{Token: "SECRET"}\n', r(32))
    add("TOML api key", "config/app.toml", 'api_key = "SECRET"\n', r(40))
    add("Terraform variable secret", "infra/prod.tfvars", 'db_password = "SECRET"\n', r(20))
    add("Docker compose password", "docker-compose.yml", "    environment:\n      POSTGRES_PASSWORD: SECRET\n", r(16))
    add("Kubernetes secret data", "k8s/secret.yaml", "data:\n  api-token: SECRET\n", base64.b64encode(r(24).encode()).decode())
    add("PGPASSWORD", "scripts/backup.sh", "PGPASSWORD=SECRET pg_dump app > dump.sql\n", r(14))
    add("netrc password", ".netrc", "machine api.example.org login bot password SECRET\n", r(20))
    return out


def as_diff(name: str, text: str) -> str:
    lines = text.rstrip("\n").split("\n")
    return f"### {name} [added, +{len(lines)} -0]\n@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{ln}\n" for ln in lines)


def recall(corpus: list[tuple[str, str, str, str]], run=redact) -> tuple[int, int, list[str]]:
    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kind, name, text, secret) in enumerate(corpus):
            path = Path(tmp) / f"{i:02d}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            diff = as_diff(name, path.read_text(encoding="utf-8"))
            shown = run(diff).text
            if any(part and part in shown for part in secret.split("\n")):
                missed.append(kind)
    return len(corpus) - len(missed), len(corpus), missed


# -- a realistic history with no secret ---------------------------------------------------------------------------
WORDS = ("cache", "page", "token", "batch", "weight", "router", "kernel", "tensor", "sampler", "block", "request",
         "scheduler", "prefix", "stream", "buffer", "session", "user", "order", "invoice", "metric")


def source_files(rng: random.Random) -> list[tuple[str, str, bool]]:
    """(path, text, is source) of one commit: 2 to 5 files."""
    w = lambda: rng.choice(WORDS)  # noqa: E731
    sha = lambda: "%040x" % rng.getrandbits(160)  # noqa: E731
    uid = lambda: str(uuid.UUID(int=rng.getrandbits(128)))  # noqa: E731
    ver = lambda: f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}"  # noqa: E731
    b64 = lambda n: base64.b64encode(rng.randbytes(n)).decode()  # noqa: E731
    kinds = [
        lambda: (f"src/{w()}/{w()}_manager.py", f"""import hashlib
from .{w()} import {w().title()}Store

MAX_TOKENS = {rng.randint(100, 9000)}
DEFAULT_{w().upper()}_KEY = "{w()}:{{user_id}}:{w()}"
TOKEN_TYPE = "Bearer"
PASSWORD_MIN_LENGTH = 12
password_prompt = "Enter the password for {w()}: "


def {w()}_key(user_id: str) -> str:
    return f"{w()}:{{user_id}}"


class {w().title()}Manager:
    def __init__(self, api_key: str, secret_name: str = "prod/{w()}") -> None:
        self.api_key = api_key
        self.sort_key = "created_at"
        self.revision = "{sha()}"
        self.request_id = "{uid()}"
        token = self.tokenizer.encode(text)
        key = hashlib.sha256(token).hexdigest()
        password = os.environ["DB_PASSWORD"]
        secret = get_secret(secret_name)
""", True),
        lambda: (f"web/src/components/{w().title()}.tsx", f"""import React from "react";
const TOKEN_KEY = "auth.{w()}";
const theme = {{ primary: "#{rng.randrange(16**6):06x}", accent: "#{rng.randrange(16**6):06X}", muted: "#fafafa" }};
export function {w().title()}Panel({{ apiKey, tokenCount }}: Props) {{
  const key = `${{apiKey}}-{w()}`;
  const passwordField = "password";
  return <Input type="password" name="password" placeholder="Password" data-commit="{sha()[:12]}" />;
}}
""", True),
        lambda: (f"internal/{w()}/{w()}.go", f"""package {w()}

const buildSHA = "{sha()}"
var requestID = "{uid()}"

func (s *Store) {w().title()}Key(id string) string {{
	key := fmt.Sprintf("{w()}/%s", id)
	token := s.nextToken()
	return key + token
}}
""", True),
        lambda: ("package-lock.json", "".join(f"""    "node_modules/{w()}-{w()}": {{
      "version": "{ver()}",
      "resolved": "https://registry.npmjs.org/{w()}/-/{w()}-{ver()}.tgz",
      "integrity": "sha512-{b64(64)}",
      "license": "MIT"
    }},
""" for _ in range(3)), False),
        lambda: (f"tests/test_{w()}.py", f"""import base64

SAMPLE = base64.b64decode("{b64(90)}")
PNG = "data:image/png;base64,{b64(60)}"
EXPECTED_DIGEST = "{sha()}{sha()[:24]}"


def test_{w()}_roundtrip(tmp_path):
    token = "{w()}-{w()}"
    assert encode(SAMPLE) == "{b64(45)}"
    assert parse_version("{ver()}") == ({rng.randint(0, 9)}, {rng.randint(0, 9)}, {rng.randint(0, 9)})
""", True),
        lambda: (f"styles/{w()}.css", f""".{w()}-card {{ color: #{rng.randrange(16**6):06x}; background: #{rng.randrange(16**3):03x}; }}
.{w()}-key {{ border: 1px solid #{rng.randrange(16**8):08x}; }}
""", True),
        lambda: (f"config/{w()}.yaml", f"""{w()}:
  version: {ver()}
  image: ghcr.io/acme/{w()}@sha256:{sha()}{sha()[:24]}
  sort_key: created_at
  cache_key: {w()}_by_user
  token_limit: {rng.randint(1000, 99999)}
  api_key: ${{API_KEY}}
  password: ${{{{ secrets.DB_PASSWORD }}}}
  secret_ref: {w()}-credentials
  primary_key: id
""", False),
        lambda: ("CHANGELOG.md", f"""## {ver()}
- Fix token refresh when the key rotates ({sha()[:7]}).
- Password reset emails link to the new page. See {uid()}.
""", False),
    ]
    return [rng.choice(kinds)() for _ in range(rng.randint(2, 5))]


def false_positives(rng: random.Random, commits: int) -> tuple[int, int, int, int, list[str]]:
    """(marks in source files, marks in all files, files, lines, examples) over `commits` generated commits."""
    in_source = total = files = lines = 0
    examples: list[str] = []
    for n in range(commits):
        for path, text, is_source in source_files(rng):
            shown = redact(as_diff(path, text)).text
            marks = shown.count(MARK)
            files += 1
            lines += text.count("\n")
            total += marks
            in_source += marks if is_source else 0
            if marks and len(examples) < 5:
                examples += [f"{path}: {ln}" for ln in shown.splitlines() if MARK in ln][:2]
    return in_source, total, files, lines, examples


def old_redact():
    """The redaction of the commit before issue 12, loaded from git."""
    text = subprocess.run(["git", "show", f"{OLD_COMMIT}:digest/analysis/redact.py"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(text)
    spec = importlib.util.spec_from_file_location("old_redact", f.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_redact"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.redact


def speed(rng: random.Random, size_mb: float) -> tuple[float, float, float]:
    """MB/s of a realistic diff of `size_mb`, old and new (the best of 3 runs each), in the prompt's form."""
    parts, size = [], 0
    while size < size_mb * 1e6:
        for path, text, _ in source_files(rng):
            parts.append(as_diff(path, text))
            size += len(parts[-1])
    diff = "".join(parts)
    mb = len(diff.encode()) / 1e6
    old = old_redact()
    rates = []
    for run in (old, redact):
        best = min(_timed(run, diff) for _ in range(3))
        rates.append(mb / best)
    return mb, rates[0], rates[1]


def _timed(run, text: str) -> float:
    started = time.perf_counter()
    run(text)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mb", type=float, default=4.0, help="size of the diff timed")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = formats(rng)
    caught, kinds, missed = recall(corpus)
    print(f"recall: {caught}/{kinds} formats redacted ({100 * caught / kinds:.1f}%)"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    before, _, _ = recall(corpus, old_redact())
    print(f"recall before issue 12: {before}/{kinds} ({100 * before / kinds:.1f}%)")
    in_source, total, files, lines, examples = false_positives(rng, args.commits)
    print(f"false positives: {in_source} in source files, {total} in all files "
          f"({args.commits} commits, {files} files, {lines} lines)")
    for example in examples:
        print(f"  e.g. {example[:160]}")
    mb, old, new = speed(rng, args.mb)
    print(f"speed: {mb:.1f} MB diff: before {old:.1f} MB/s, now {new:.1f} MB/s ({new / old:.2f}x)")


if __name__ == "__main__":
    main()
