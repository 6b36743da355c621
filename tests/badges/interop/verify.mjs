// Independent verifier: checks a credential signed by the service with Digital
// Bazaar's Data Integrity stack, so our Python signer is tested against code we
// did not write.
//
//   node verify.mjs CREDENTIAL.json PUBLIC_MULTIKEY [--repeat N]
//
// Prints one JSON verdict: {"verified": bool, "errors": [...]} (plus timing when
// --repeat is given). Exit status 0 when verified, 1 when not, 2 on bad usage.
// JSON-LD contexts come only from the service's shipped files
// (badges/contexts/index.json); nothing is fetched from the network.
import {readFileSync} from 'node:fs';
import {performance} from 'node:perf_hooks';

import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as vc from '@digitalbazaar/vc';

const CONTEXTS_DIR = new URL('../../../badges/contexts/', import.meta.url);
const DID_CONTEXT = 'https://www.w3.org/ns/did/v1';
const MULTIKEY_CONTEXT = 'https://w3id.org/security/multikey/v1';

function loadShippedContexts() {
  const index = JSON.parse(readFileSync(new URL('index.json', CONTEXTS_DIR), 'utf8'));
  const contexts = new Map();
  for (const [url, file] of Object.entries(index)) {
    contexts.set(url, JSON.parse(readFileSync(new URL(file, CONTEXTS_DIR), 'utf8')));
  }
  return contexts;
}

// The issuer's key as its profile would publish it: a Multikey verification
// method, listed under assertionMethod by its controller.
function keyDocuments(verificationMethodId, publicKeyMultibase) {
  const controller = verificationMethodId.split('#')[0];
  const method = {
    '@context': MULTIKEY_CONTEXT,
    id: verificationMethodId,
    type: 'Multikey',
    controller,
    publicKeyMultibase,
  };
  const controllerDocument = {
    '@context': DID_CONTEXT,
    id: controller,
    assertionMethod: [verificationMethodId],
  };
  return new Map([[verificationMethodId, method], [controller, controllerDocument]]);
}

function staticDocumentLoader(documents) {
  return async url => {
    const document = documents.get(url);
    if(document === undefined) {
      throw new Error(`Document not available offline: ${url}`);
    }
    return {contextUrl: null, documentUrl: url, document: structuredClone(document)};
  };
}

function errorMessages(result) {
  const errors = [];
  const collect = error => {
    if(!error) {
      return;
    }
    if(Array.isArray(error)) {
      error.forEach(collect);
      return;
    }
    errors.push(error.message || String(error));
    collect(error.errors);
  };
  collect(result.error);
  for(const proofResult of result.results || []) {
    collect(proofResult.error);
  }
  return [...new Set(errors)];
}

async function main(argv) {
  const [credentialPath, publicKeyMultibase, flag, repeatText] = argv;
  if(!credentialPath || !publicKeyMultibase || (flag && flag !== '--repeat')) {
    console.error('usage: node verify.mjs CREDENTIAL.json PUBLIC_MULTIKEY [--repeat N]');
    return 2;
  }
  const credential = JSON.parse(readFileSync(credentialPath, 'utf8'));
  // A proof may be one object or a set of one (Open Badges 3.0 issues a set).
  const proof = Array.isArray(credential?.proof) ? credential.proof[0] : credential?.proof;
  const verificationMethodId = proof?.verificationMethod;
  const documents = loadShippedContexts();
  if(typeof verificationMethodId === 'string') {
    for(const [url, document] of keyDocuments(verificationMethodId, publicKeyMultibase)) {
      documents.set(url, document);
    }
  }
  const documentLoader = staticDocumentLoader(documents);
  const verifyOnce = () => vc.verifyCredential({
    credential,
    suite: new DataIntegrityProof({cryptosuite: eddsaRdfc2022}),
    documentLoader,
    // Revocation is checked by the service against its status list; this
    // independent check is about the proof, so any status entry is accepted.
    checkStatus: async () => ({verified: true}),
  });

  const result = await verifyOnce();
  const verdict = {verified: result.verified === true, errors: errorMessages(result)};
  if(flag === '--repeat') {
    const repeat = Number.parseInt(repeatText, 10);
    if(!(repeat > 0)) {
      console.error('--repeat needs a positive count');
      return 2;
    }
    const started = performance.now();
    for(let i = 0; i < repeat; ++i) {
      await verifyOnce();
    }
    verdict.repeat = repeat;
    verdict.milliseconds_per_verification = (performance.now() - started) / repeat;
  }
  console.log(JSON.stringify(verdict));
  return verdict.verified ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
