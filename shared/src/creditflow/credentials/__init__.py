"""Verifiable credentials as creditflow issues and checks them: Ed25519 keys, VC-JOSE (compact JWS, EdDSA) proofs,
Bitstring Status Lists, and the one verification function every service uses."""
