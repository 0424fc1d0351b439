"""creditflow issuer: institutions award credentials, published as CredentialAwarded."""
