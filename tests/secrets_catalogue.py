"""Real-looking secrets (made up, of the real formats) and look-alikes that must reach the LLM untouched."""

from __future__ import annotations

PEM_BODY = ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
            "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
            "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n")

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
