// Browser and schema tests of the community directory (issue 3): axe-core with zero
// violations on every directory page (public, officer, forms with errors), and every
// /openreferral/ response validated with ajv against the compiled Open Referral UK 3.0
// schemas in ../shared/data/standards/hsds/oruk-3.0-compiled/ (settings from
// ../shared/data/README.md: strict false, ajv-formats, no-op "datetime" and "csv"),
// including /services/{id} for every demo service. The schema part checks itself first
// on the ORUK validator's pass and fail fixtures, so it cannot pass by accepting all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { startServer, chromiumOptions } from './server.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const shared = process.env.CG_SHARED_DATA || resolve('../shared/data');
const hsds = join(shared, 'standards/hsds');
const haveSchemas = existsSync(join(hsds, 'oruk-3.0-compiled/service.json'));

let server, browser;

before(async () => {
  server = await startServer();
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  const code = await server?.stop();
  assert.equal(code, 0, 'server stops cleanly on SIGTERM');
});

async function axe(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
    }));
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

async function checkPage(page, path, expectStatus = 200) {
  const resp = await page.goto(`${server.base}${path}`);
  assert.equal(resp.status(), expectStatus, `${path} status`);
  assert.deepEqual(await axe(page), [], `axe violations on ${path}`);
  assert.equal(await page.locator('h1').count(), 1, `one h1 on ${path}`);
}

async function signIn(page) {
  await page.goto(`${server.base}/signin`);
  await page.fill('#email', server.email);
  await page.fill('#password', server.password);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit] >> text=/Sign in|Mewngofnodi/')]);
}

const SERVICE = '9b2e6d14-3c8f-4a57-b0d2-000000000001';
const ORG = '4f0a8c52-1b7e-4d29-8e61-000000000001';

test('directory pages pass axe-core with zero violations', async () => {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await checkPage(page, '/directory');
  await checkPage(page, '/directory?q=food');
  await checkPage(page, '/directory?q=zzzz-nothing');
  await checkPage(page, `/directory/services/${SERVICE}`);
  await checkPage(page, '/directory/organisations');
  await checkPage(page, `/directory/organisations/${ORG}`);
  // The map has a text alternative and a list beside it.
  await page.goto(`${server.base}/directory`);
  assert.equal(await page.locator('svg[role=img] title').count(), 1);
  assert.ok(await page.locator('.cg-dir-map__list li').count() >= 10);
  // Welsh too.
  const cy = await browser.newContext({ bypassCSP: true, extraHTTPHeaders: { 'Accept-Language': 'cy' } });
  const cyPage = await cy.newPage();
  await checkPage(cyPage, `/directory/services/${SERVICE}`);
  await cy.close();
  await context.close();
});

test('officer and form pages pass axe-core, errors included', async () => {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await signIn(page);
  await checkPage(page, '/directory/duplicates');
  await checkPage(page, '/directory/import');
  await checkPage(page, '/directory/organisations/new');
  await checkPage(page, `/directory/organisations/${ORG}/edit`);
  await checkPage(page, `/directory/organisations/${ORG}/services/new`);
  await checkPage(page, `/directory/services/${SERVICE}/edit`);
  // The organisation's members, with a remove button each, invited and removed here.
  await page.goto(`${server.base}/directory/organisations/${ORG}`);
  await page.fill('#email', server.email);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit] >> text=/Invite|Gwahodd/')]);
  await checkPage(page, `/directory/organisations/${ORG}`);
  assert.equal(await page.locator('main li form button').count(), 1);
  await Promise.all([page.waitForNavigation(), page.click('main li form button')]);
  assert.equal(await page.locator('main li form button').count(), 0);
  // A service form with problems: the summary links to each field, values are kept.
  await page.goto(`${server.base}/directory/organisations/${ORG}/services/new`);
  await page.fill('#postcode', 'nowhere');
  await page.fill('#opens_at', '12:00');
  await page.fill('#closes_at', '10:00');
  await page.click('button[type=submit] >> text=/Save service|Cadw/');
  await page.waitForSelector('.govuk-error-summary');
  assert.deepEqual(await axe(page), []);
  assert.equal(await page.inputValue('#postcode'), 'nowhere');
  for (const f of ['name', 'postcode', 'closes_at', 'day'])
    assert.equal(await page.locator(`.govuk-error-summary a[href="#${f}"]`).count(), 1, `error for ${f}`);
  // The import page's report of refused rows.
  await page.goto(`${server.base}/directory/import`);
  await page.setInputFiles('#file', { name: 'bad.csv', mimeType: 'text/csv',
    buffer: Buffer.from('organization_name,service_name,email\nA,B,not-an-email\n') });
  await page.click('button[type=submit] >> text=/^Import$|Mewnforio/');
  await page.waitForSelector('table');
  assert.deepEqual(await axe(page), []);
  await context.close();
});

function schemaValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat('datetime', true);
  ajv.addFormat('csv', true);
  const load = (name) => {
    const s = JSON.parse(readFileSync(join(hsds, 'oruk-3.0-compiled', name), 'utf8'));
    delete s.$schema;
    return ajv.compile(s);
  };
  return {
    api: load('api_details.json'),
    serviceList: load('service_list.json'),
    service: load('service.json'),
    organization: load('organization.json'),
    taxonomyList: load('taxonomy_list.json'),
    termList: load('taxonomy_term_list.json'),
    term: load('taxonomy_term.json'),
  };
}

function mock(path) {
  return JSON.parse(readFileSync(join(hsds, 'oruk-validator-mocks', path), 'utf8'));
}

async function getJson(path) {
  const resp = await fetch(`${server.base}${path}`);
  assert.equal(resp.status, 200, `${path} status`);
  assert.equal(resp.headers.get('access-control-allow-origin'), '*');
  return resp.json();
}

function valid(v, doc, what) {
  const ok = v(doc);
  assert.ok(ok, `${what}: ${JSON.stringify(v.errors?.slice(0, 5))}`);
}

test('the API validates against the Open Referral UK 3.0 schemas', { skip: !haveSchemas && 'shared data not found (set CG_SHARED_DATA)' }, async () => {
  const v = schemaValidator();
  // The validator itself: the UK validator's passing fixtures pass, failing ones fail.
  valid(v.service, mock('V3.0-UK-Default/service_full.json'), 'Default service fixture');
  valid(v.serviceList, mock('V3.0-UK-Default/service_list.json'), 'Default list fixture');
  assert.equal(v.service(mock('V3.0-UK-Fail/service_full.json')), false, 'Fail fixture must fail');

  valid(v.api, await getJson('/openreferral/'), '/openreferral/');
  const ids = [];
  for (let page = 1; ; page++) {
    const list = await getJson(`/openreferral/services?per_page=5&page=${page}`);
    valid(v.serviceList, list, `services page ${page}`);
    for (const s of list.contents) valid(v.service, s, `service ${s.id} in list`);
    ids.push(...list.contents.map((s) => s.id));
    if (list.last_page) break;
  }
  assert.equal(ids.length, 14, 'every demo service listed once');
  assert.equal(new Set(ids).size, 14);
  for (const id of ids) valid(v.service, await getJson(`/openreferral/services/${id}`), `/services/${id}`);
  for (const q of ['search=food', 'taxonomy_term_id=6d1c3b1e-6a53-4c1e-9a43-000000000001',
    'postcode=BN15&proximity=2000', 'modified_after=2020-01-01T00:00:00Z', 'page=99'])
    valid(v.serviceList, await getJson(`/openreferral/services?${q}`), q);
  const orgs = await getJson('/openreferral/organizations');
  for (const o of orgs.contents) valid(v.organization, await getJson(`/openreferral/organizations/${o.id}`), `organization ${o.id}`);
  valid(v.taxonomyList, await getJson('/openreferral/taxonomies'), 'taxonomies');
  const terms = await getJson('/openreferral/taxonomy_terms');
  valid(v.termList, terms, 'taxonomy_terms');
  valid(v.term, await getJson(`/openreferral/taxonomy_terms/${terms.contents[0].id}`), 'a term');
});

// Last in this file: it adds a service, which the API test above counts.
test('an import with a change says what changed, accessibly', async () => {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  await signIn(page);
  // A file imported with a change (coordinates off the globe) says what changed.
  const feed = [{ id: 'b1b2c3d4-0000-4000-8000-000000000020', name: 'Sea swim', status: 'active',
    organization: { id: 'b1b2c3d4-0000-4000-8000-0000000000bb', name: 'Swimmers' },
    service_at_locations: [{ id: 'b1b2c3d4-0000-4000-8000-000000000021',
      location: { id: 'b1b2c3d4-0000-4000-8000-000000000022', name: 'Beach', latitude: 100, longitude: -0.3 } }] }];
  await page.goto(`${server.base}/directory/import`);
  await page.setInputFiles('#file', { name: 'sea.json', mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(feed)) });
  await page.click('button[type=submit] >> text=/^Import$|Mewnforio/');
  await page.waitForSelector('.govuk-panel--confirmation');
  assert.match(await page.textContent('table'), /off the globe/);
  assert.deepEqual(await axe(page), []);
  await context.close();
});
