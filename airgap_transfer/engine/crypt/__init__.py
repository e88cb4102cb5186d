"""age v1 (age-encryption.org/v1) written natively on ``cryptography``.

Layers inside: ``bech32`` (key strings), ``keys`` (X25519 and scrypt
recipients and identities, key files), ``header`` (the text header: bounded
parser, emitter, MAC), ``stream`` (the STREAM payload in 64 KiB chunks over
reused buffers), ``age`` (whole files: encrypt/decrypt small documents, and
the per-file sealer and opener the chunk writers drive).  Nothing here does
file-system I/O beyond the file descriptors it is handed.
"""
