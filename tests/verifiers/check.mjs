// Checks creditflow's credentials with code creditflow did not write: Digital Bazaar's VC / Data Integrity stack
// (@digitalbazaar/vc, data-integrity, eddsa-rdfc-2022-cryptosuite, ed25519-multikey), jsonld.js in safe mode, and
// the `jose` JWT library. Run by the test suite (tests/test_credentials_e2e.py) with node.
//
// stdin: {"contexts": {url: document}, "serve": [url prefix, ...], "di": [credential], "expand": [document],
//         "canonize": [document], "jwt": [compact JWT]}
// stdout: {"di": [{verified, error}], "expand": [{ok, error}], "canonize": [{nquads, error}],
//          "jwt": [{verified, error, header, payload}]}
//
// The document loader is static: the contexts passed in (creditflow's bundled copies) plus Digital Bazaar's own
// security contexts. Only key and profile documents are fetched, and only from the running services (`serve`).
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import securityContext from '@digitalbazaar/security-context';
import jsonld from 'jsonld';
import * as jose from 'jose';

const input = JSON.parse(await new Promise(resolve => {
  let text = '';
  process.stdin.on('data', chunk => text += chunk);
  process.stdin.on('end', () => resolve(text));
}));

const contexts = new Map(Object.entries(input.contexts));
for(const [url, document] of securityContext.contexts) {
  contexts.set(url, document);
}
const serve = input.serve || [];

async function documentLoader(url) {
  if(contexts.has(url)) {
    return {contextUrl: null, documentUrl: url, document: structuredClone(contexts.get(url))};
  }
  const base = url.split('#')[0];
  if(serve.some(prefix => base.startsWith(prefix))) {
    const response = await fetch(base);
    if(!response.ok) {
      throw new Error(`${base} answered ${response.status}`);
    }
    return {contextUrl: null, documentUrl: url, document: await response.json()};
  }
  throw new Error(`document ${url} is neither a bundled context nor served by the stack; not fetched`);
}

function message(error) {
  if(!error) {
    return null;
  }
  const errors = error.errors || (error.error && (error.error.errors || [error.error])) || [error];
  return errors.map(e => e.message || String(e)).join('; ');
}

const out = {di: [], expand: [], canonize: [], jwt: []};

for(const credential of input.di || []) {
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
  try {
    // Revocation is checked by the suite's own verifier through the status list; here only the proof.
    const result = await vc.verifyCredential({
      credential, suite, documentLoader, checkStatus: async () => ({verified: true})
    });
    out.di.push({verified: result.verified, error: message(result.error || (result.results || [])
      .find(r => !r.verified)?.error)});
  } catch(error) {
    out.di.push({verified: false, error: message(error)});
  }
}

for(const document of input.expand || []) {
  try {
    await jsonld.expand(document, {documentLoader, safe: true});
    out.expand.push({ok: true, error: null});
  } catch(error) {
    out.expand.push({ok: false, error: `${error.message}: ${JSON.stringify(error.details || {})}`.slice(0, 2000)});
  }
}

// RDFC-1.0 in safe mode, as the eddsa-rdfc-2022 cryptosuite canonicalises (expansion and RDF conversion events).
for(const document of input.canonize || []) {
  try {
    const nquads = await jsonld.canonize(document, {
      documentLoader, safe: true, algorithm: 'RDFC-1.0', format: 'application/n-quads'
    });
    out.canonize.push({nquads, error: null});
  } catch(error) {
    const event = error.details && error.details.event;
    out.canonize.push({nquads: null, error: event ? event.code : error.message});
  }
}

for(const token of input.jwt || []) {
  try {
    const header = jose.decodeProtectedHeader(token);
    const {document: jwk} = await documentLoader(header.kid);
    const key = await jose.importJWK(jwk, 'ES256');
    const {payload, protectedHeader} = await jose.jwtVerify(token, key, {algorithms: ['ES256'], typ: 'JWT'});
    out.jwt.push({verified: true, error: null, header: protectedHeader, payload});
  } catch(error) {
    out.jwt.push({verified: false, error: message(error)});
  }
}

process.stdout.write(JSON.stringify(out));
