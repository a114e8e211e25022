"""Cases and tamper-evident evidence: capture a web page with a real browser (capture), seal the files with
SHA-256 manifests and an Ed25519 signature (sealing), keep a hash-chained custody log (custody), write a case's
export bundle with its Chinese 电子数据提取笔录 (bundle) and check one (verify).

May import domain, store, config and pipelines; only app/ and the shells import it.
"""
