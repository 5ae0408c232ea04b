"""Real-looking secrets (made up, of the real formats) and look-alikes that must reach the LLM untouched."""

from __future__ import annotations

PEM_BODY = ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
            "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
            "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n")

SECRET_KEY_BASE = ("0d999a6375e71bd0445783dfa4a617caf35eb0e56ada719b22e82a52ba13f0250e013720208a61421dee14a418ee56"
                   "08655abad7f69580a827d7c69b7166cccb")
DISCORD = "Fj0TPkQslNNx3UwdA_4_whR6EPmCaUUJz3LCsQu7XF66gD0Y4gnNScP-UNvr9CrG-f2U"
AZURE = "oigc76dnAMvArWmw4XHDr9chp4pIj+F9e39Cn3dNc5zrre0fiAdANgfuxIjQPFiZQ8Nbs4Hp2q1heedk6qWnlA=="
# the middle of a key's body: a hunk that changes these lines shows neither its BEGIN nor its END line
PEM_LINES = ["IzHKyOsR4GDJkpRp2niAbH1fKJ5EFpKoyf5gQ43l/1ajwipo6fXHxPZTM2HnYBF+",
             "4m94YhqbnPBqA0lmmDGR0BCDo87cxMUujsN5K6KH7cmtwIA01oHz1cU8MkE7OxIc"]

# (kind, secret value that must never be sent, the line it appears in)
SECRETS: list[tuple[str, str, str]] = [
    ("private key", PEM_BODY.split("\n")[1],
     "-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "-----END RSA PRIVATE KEY-----"),
    ("private key", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
     "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
     "-----END OPENSSH PRIVATE KEY-----"),
    ("AWS access key", "AKIAIOSFODNN7EXAMPLE", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),
    ("AWS secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     'AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"'),
    ("GCP service account", "3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
     '{"type": "service_account", "project_id": "demo-123", "private_key_id": '
     '"3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
     'MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDf\\n-----END PRIVATE KEY-----\\n", '
     '"client_email": "bot@demo-123.iam.gserviceaccount.com"}'),
    ("GCP service account", "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDf", ""),  # same line as above
    ("GitHub classic token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", 'token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"'),
    ("GitHub fine-grained token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX12",
     "export GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX12"),
    ("Slack bot token", "xoxb-2468013579-1357924680-AbCdEfGhIjKlMnOpQrStUvWx",
     'client = WebClient(token="xoxb-2468013579-1357924680-AbCdEfGhIjKlMnOpQrStUvWx")'),
    ("Slack app token", "xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef0123456789abcdef",
     "SLACK_APP_TOKEN=xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef0123456789abcdef"),
    ("OpenAI key", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq",
     'openai.api_key = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq"'),
    ("OpenAI legacy key", "sk-9aB3cD4eF5gH6iJ7kL8mT3BlbkFJnO1pQ2rS3tU4vW5xY6z",
     "OPENAI_KEY: sk-9aB3cD4eF5gH6iJ7kL8mT3BlbkFJnO1pQ2rS3tU4vW5xY6z"),
    ("password assignment", "Tr0ub4dor&3-correct-horse", 'DB_PASSWORD = "Tr0ub4dor&3-correct-horse"'),
    ("api_key assignment", "9f8e7d6c5b4a39281726354a5b6c7d8e", "api_key=9f8e7d6c5b4a39281726354a5b6c7d8e"),
    ("yaml secret", "s3cr3t-Value-2024-xyz", "  client_secret: s3cr3t-Value-2024-xyz"),
    ("URL credentials", "hunter2hunter2", "DATABASE_URL=postgres://admin:hunter2hunter2@db.internal:5432/app"),
    ("URL token", "ghs_0123456789abcdefghijABCDEFGHIJ012345",
     "git clone https://x-access-token:ghs_0123456789abcdefghijABCDEFGHIJ012345@github.com/o/r.git"),
    ("JWT", "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0",
     "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
     ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
    ("Google API key", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", 'GOOGLE_MAPS = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"'),
    ("Stripe key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'"),
    # the 16 that reached the LLM before (issue 12, item 11)
    ("DB_PASS", "Xk9mP2vLqZ", "DB_PASS=Xk9mP2vLqZ"),
    ("letters-only password", "correcthorsebattery", "DATABASE_PASSWORD=correcthorsebattery"),
    ("Rails secret_key_base", SECRET_KEY_BASE, f"SECRET_KEY_BASE={SECRET_KEY_BASE}"),
    ("encryption key", "WhsfST25lGjJeqbvhaqioF9VSplFkmVI", "ENCRYPTION_KEY=WhsfST25lGjJeqbvhaqioF9VSplFkmVI"),
    ("Feishu webhook", "0f9c1e2a-7b3d-4c5e-8f6a-1b2c3d4e5f60",
     "FEISHU_HOOK: https://open.feishu.cn/open-apis/bot/v2/hook/0f9c1e2a-7b3d-4c5e-8f6a-1b2c3d4e5f60"),
    ("Discord webhook", DISCORD, f'requests.post("https://discord.com/api/webhooks/1234567890123456789/{DISCORD}", json=m)'),
    ("Azure storage key", AZURE, "conn = 'DefaultEndpointsProtocol=https;AccountName=demo;AccountKey="
                                 f"{AZURE};EndpointSuffix=core.windows.net'"),
    ("Telegram bot token", "8123456789:8ISsWbV9J6Das4VuRAhzjRZlchCl24o2rOu",
     "curl https://api.telegram.org/bot8123456789:8ISsWbV9J6Das4VuRAhzjRZlchCl24o2rOu/getMe"),
    ("Hugging Face token", "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",
     "huggingface-cli login --token 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"),
    ("GitLab token", "glpat-UVwdW3edC2fXAnCwjJe3",
     'curl --header "PRIVATE-TOKEN: glpat-UVwdW3edC2fXAnCwjJe3" https://gitlab.example.org/api/v4/projects'),
    ("npm token", "npm_rFwMOUdGDxnvsDES92Ep9kD7JxlmXVo6Ma8r",
     "echo npm_rFwMOUdGDxnvsDES92Ep9kD7JxlmXVo6Ma8r | npm login --registry https://registry.npmjs.org"),
    ("SendGrid key", "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",
     'sg = SendGridAPIClient("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")'),
    ("Basic authorization", "YWRtaW46aHVudGVyMg==", 'curl -H "Authorization: Basic YWRtaW46aHVudGVyMg==" $URL'),
    ("short password", "hunter2", 'password="hunter2"'),
    ("private key body without BEGIN", PEM_LINES[0], "\n".join(PEM_LINES)),
    ("private key body without BEGIN", PEM_LINES[1], ""),  # same hunk as above
]

# Text that looks a bit like a secret and must reach the LLM exactly as it is.
NEGATIVES: list[str] = [
    "Reverts 9c1e5a7b3d2f4e6a8b0c1d3e5f7a9b2c4d6e8f01 and d112f6a.",
    "request_id = uuid.UUID('123e4567-e89b-12d3-a456-426614174000')",
    'password = os.environ["DB_PASSWORD"]',
    "api_key = os.getenv('OPENAI_API_KEY')",
    "token = get_token(session)",
    "self.api_key = api_key",
    "max_tokens = 1500",
    "secret_key: str | None = None",
    'password = "${DB_PASSWORD}"',
    "passwd = settings.database_password_field",
    "tokenizer = AutoTokenizer.from_pretrained(model_path)",
    "See https://github.com/sgl-project/sglang/pull/16273 and https://user@example.com/path",
    "task-scheduler-runs-every-night-at-0200 uses sk-learn style names",
    "Use `--api-key` to pass the key; sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
]

# A realistic diff with no secret (file by file, in the prompt's form): what a history holds that looks like one.
NOT_SECRETS = {
    "package-lock.json": [
        '"integrity": "sha512-2QmZ8m7VeDEq6vsKD1gyy0hHM9Zi8Ry6tqfEYhHEz+Gq9BvZpq0HyJ+f3gVbYwLjRkHPfTSLoUJjyDsxEN5CvQ==",',
        '"resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz",',
    ],
    "src/cache/manager.py": [
        'DEFAULT_CACHE_KEY = "cache:{user_id}:profile"',
        'TOKEN_TYPE = "Bearer"',
        'password_prompt = "Enter the password for the vault: "',
        'self.revision = "9c1e5a7b3d2f4e6a8b0c1d3e5f7a9b2c4d6e8f01"',
        'self.request_id = "123e4567-e89b-12d3-a456-426614174000"',
        'key = hashlib.sha256(token).hexdigest()',
        'cfg := Config{Token: token, Name: "reader"}',
    ],
    "tests/test_codec.py": [
        'SAMPLE = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")',
        'EXPECTED = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"',
        'assert parse_version("12.4.127") == (12, 4, 127)',
    ],
    "styles/card.css": [".card-key { color: #1a2b3c; border: 1px solid #AABBCCDD; background: #fafafa; }"],
    "config/app.yaml": [
        "sort_key: created_at",
        "token_limit: 120000",
        "secret_ref: prod-db-credentials",
        "password: ${{ secrets.DB_PASSWORD }}",
        "image: ghcr.io/acme/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "primary_key: id",
    ],
    "certs/ca.pem": ["-----BEGIN CERTIFICATE-----", "MIIBszCCAVmgAwIBAgIUYJ3cXg=="],
    "CHANGELOG.md": ["- Fix token refresh when the key rotates (d112f6a).", "- Password reset emails link to the new page."],
}
