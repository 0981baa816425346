// Checks an audit entry in the browser, trusting nothing but the log key shown on the page:
//  1. the leaf hash: SHA-256(0x00 || canonical entry bytes)            (RFC 9162 §2.1.1, RFC 8785 bytes)
//  2. the inclusion proof up to the tree's root                        (RFC 9162 §2.1.3.2)
//  3. the checkpoint: its root and size, and its Ed25519 signature     (c2sp.org/tlog-checkpoint, signed-note)
// The result goes into [data-testid=proof-status] as data-state="verified" or "failed".
"use strict";

(function () {
  const enc = new TextEncoder();

  function b64(text) {
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // RFC 9162 §2.1.3.2: verifying an inclusion proof.
  async function rootFromInclusion(leafIndex, treeSize, leafHash, path) {
    if (leafIndex >= treeSize) throw new Error("leaf index outside the tree");
    let fn = leafIndex, sn = treeSize - 1, r = leafHash;
    for (const p of path) {
      if (sn === 0) throw new Error("proof too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(concat(Uint8Array.of(1), p, r));
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await sha256(concat(Uint8Array.of(1), r, p));
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("proof too short");
    return r;
  }

  // golang.org/x/mod sumdb/note verifier key: <name>+<hex key id>+<base64(0x01 || Ed25519 public key)>
  async function parseVerifierKey(text) {
    const trimmed = text.trim();
    const first = trimmed.indexOf("+"), second = trimmed.indexOf("+", first + 1);
    if (first < 0 || second < 0) throw new Error("not a verifier key");
    const name = trimmed.slice(0, first), hexId = trimmed.slice(first + 1, second);
    const encoded = trimmed.slice(second + 1);  // base64 may itself hold '+'
    if (!/^[0-9a-f]{8}$/.test(hexId)) throw new Error("not a verifier key");
    const material = b64(encoded);
    if (material.length !== 33 || material[0] !== 1) throw new Error("not an Ed25519 verifier key");
    const raw = material.slice(1);
    const id = await keyId(name, raw);
    const hex = Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
    if (hex !== hexId) throw new Error("the verifier key's id does not match");
    return { name, raw, id };
  }

  async function keyId(name, raw) {  // signed-note: SHA-256(name || 0x0A || 0x01 || key)[:4]
    return (await sha256(concat(enc.encode(name), Uint8Array.of(0x0a, 0x01), raw))).slice(0, 4);
  }

  async function openCheckpoint(note, key) {
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0 || !note.endsWith("\n")) throw new Error("not a signed note");
    const text = note.slice(0, cut + 1);
    const lines = text.slice(0, -1).split("\n");
    const [origin, size, root] = lines;
    if (origin !== key.name) throw new Error("the checkpoint's origin is not the key's name");
    if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error("bad tree size");
    const publicKey = await crypto.subtle.importKey("raw", key.raw, { name: "Ed25519" }, false, ["verify"]);
    let verified = false;
    for (const line of note.slice(cut + 2, -1).split("\n")) {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(line);
      if (!m) throw new Error("malformed signature line");
      const blob = b64(m[2]);
      if (m[1] !== key.name || !equal(blob.slice(0, 4), key.id)) continue;  // another key's signature
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, publicKey, blob.slice(4), enc.encode(text));
      if (!ok) throw new Error("the checkpoint's signature does not verify");
      verified = true;
    }
    if (!verified) throw new Error("no signature by the log key");
    return { size: Number(size), root: b64(root) };
  }

  async function verify(bundle, leafIndex, verifierKey) {
    if (bundle.leaf_index !== leafIndex) throw new Error("the proof is for another leaf");
    if (typeof bundle.entry !== "string") throw new Error("the proof carries no entry");
    const leafHash = await sha256(concat(Uint8Array.of(0), enc.encode(bundle.entry)));
    const root = await rootFromInclusion(leafIndex, bundle.tree_size, leafHash, bundle.proof.map(b64));
    if (typeof bundle.checkpoint !== "string") throw new Error("no signed checkpoint");
    const key = await parseVerifierKey(verifierKey);
    const head = await openCheckpoint(bundle.checkpoint, key);
    if (head.size !== bundle.tree_size) throw new Error("the checkpoint is of another tree size");
    if (!equal(head.root, root)) throw new Error("the proof does not lead to the signed root");
  }

  async function run() {
    const holder = document.getElementById("entry");
    if (!holder) return;  // loaded on another page: only window.heduiVerify is wanted
    const status = document.querySelector('[data-testid="proof-status"]');
    const leafIndex = Number(holder.dataset.leaf);
    try {
      const response = await fetch(`/console/entries/${leafIndex}/proof.json`, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const bundle = await response.json();
      document.getElementById("canonical-bytes").textContent = bundle.entry;
      await verify(bundle, leafIndex, holder.dataset.verifierKey);
      status.dataset.state = "verified";
      status.textContent = holder.dataset.verified;
    } catch (error) {
      status.dataset.state = "failed";
      status.textContent = `${holder.dataset.failed}: ${error.message}`;
    }
  }

  window.heduiVerify = verify;  // for tests and curious auditors
  run();
})();
