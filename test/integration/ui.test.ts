/**
 * The Temporal Web UI in a real browser: the dev server the embedded default starts (with its UI), a finished job
 * found in the UI by its `Curator*` search attributes, and the job's page showing the summary our start sets.
 * Headless Chromium is Debian's (scripts/setup-browser.sh), driven by playwright-core; screenshots go to test/.tmp/ui/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createWorker, curate, defineCurator } from '../../src';
import { startSimulator, type Simulator } from '../../src/simulator';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { installQuietRuntime } from '../../src/temporal/runtime';
import { freePort } from '../../bench/lib/processes';
import { runSetupScript } from '../helpers/setup-script';
import { tempDir } from '../helpers/temporal';

const ROOT = join(__dirname, '..', '..');
const SHOTS = join(ROOT, 'test', '.tmp', 'ui');
// The machine running the tests is shared and slow, and the UI's first page load fetches a large bundle.
const UI_TIMEOUT_MS = 60_000;

// A name no other test uses, so the search-attribute query can only match this job.
const CURATOR = 'ui-haiku';
const haiku = defineCurator({
  name: CURATOR,
  model: 'gpt-4o-mini',
  prompt: (row: { topic: string }) => `Write a haiku about ${row.topic}.`,
});
// A second finished job the query must leave out: without it an unfiltered list would pass the test too.
const limerick = defineCurator({
  name: 'ui-limerick',
  model: 'gpt-4o-mini',
  prompt: (row: { topic: string }) => `Write a limerick about ${row.topic}.`,
});

/** The dev server accepts gRPC before its UI serves pages; wait for the UI instead of failing the first navigation. */
async function waitForUi(url: string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the Temporal UI at ${url} did not answer within ${deadlineMs / 1000}s: ${String(last)}`);
}

describe('the Temporal UI in a real browser', () => {
  let chromiumPath: string;
  let server: DevServer | undefined;
  let sim: Simulator | undefined;
  let connection: Connection | undefined;
  let nativeConnection: NativeConnection | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let browser: Browser | undefined;
  let client: Client;
  let cacheDir: string;
  const taskQueue = 'ui-test';

  before(async () => {
    chromiumPath = runSetupScript('setup-browser.sh');
    // Only this run's screenshots, so a stale failure.png never sits next to a passing run's.
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });

    installQuietRuntime();
    cacheDir = tempDir('ui');
    const port = await freePort();
    let uiPort = await freePort();
    while (uiPort === port) uiPort = await freePort();
    // The same server `npm start` runs (UI on, search attributes registered), on ports of its own. Unlike the other
    // integration tests this ignores TEMPORAL_ADDRESS: the test needs a UI it knows the address of.
    server = await startDevServer({ dbFilename: join(cacheDir, 'temporal', 'dev-server.db'), port, uiPort });
    assert.ok(server.owned, `another server already listens on ${server.address}`);
    sim = await startSimulator();
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });
    nativeConnection = await NativeConnection.connect({ address: server.address });
    worker = await createWorker({
      connection: nativeConnection,
      taskQueue,
      cacheDir,
      curators: [haiku, limerick],
      env: { OPENAI_API_KEY: 'sk-test-openai', OPENAI_BASE_URL: sim.openaiBaseURL },
    });
    running = worker.run();
  });

  after(async () => {
    await browser?.close();
    worker?.shutdown();
    await running;
    await nativeConnection?.close();
    await connection?.close();
    await sim?.close();
    await server?.stop();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  });

  const screenshot = async (page: Page, name: string): Promise<string> => {
    const path = join(SHOTS, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot: ${path}`);
    return path;
  };

  test('a finished job is found by search attribute and its page shows the summary', async () => {
    const dataset = ['the sea', 'autumn', 'a lighthouse'].map((topic) => ({ topic }));
    const [result, other] = await Promise.all(
      [CURATOR, limerick.name].map((name) =>
        curate(client, name, { dataset, taskQueue, cacheDir, searchAttributes: true })
      )
    );
    assert.equal(result.stats.succeeded, dataset.length);
    assert.equal(other.stats.succeeded, dataset.length);

    const query = `CuratorName = "${CURATOR}" AND CuratorStatus = "completed"`;
    // Visibility is eventually consistent: wait until the server itself answers the query, so that a job missing
    // from the UI below is the UI's fault and not an index that has not caught up yet.
    let found: string[] = [];
    for (let tries = 0; tries < 100 && found.length === 0; tries++) {
      found = [];
      for await (const w of client.workflow.list({ query })) found.push(w.workflowId);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(found, [result.workflowId]);

    await waitForUi(server!.uiUrl, UI_TIMEOUT_MS);
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      // Chromium will not start its sandbox as root, which CI containers run as; their /dev/shm is often tiny too.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.setDefaultNavigationTimeout(UI_TIMEOUT_MS);
    try {
      await checkUi(page, query, result.workflowId, other.workflowId, dataset.length);
    } catch (err) {
      // What the browser showed when a wait timed out says more than the timeout itself.
      await screenshot(page, 'failure').catch(() => undefined);
      throw err;
    }
  });

  const checkUi = async (page: Page, query: string, workflowId: string, decoyId: string, rows: number) => {
    const listUrl = `${server!.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
    await page.goto(listUrl);
    const row = page.getByRole('link', { name: workflowId, exact: true });
    await row.first().waitFor({ state: 'visible' });
    // The list renders its rows together, so once ours shows, a missing decoy means the query filtered it out.
    assert.equal(await page.getByRole('link', { name: decoyId, exact: true }).count(), 0);
    await screenshot(page, 'workflow-list');

    await row.first().click();
    await page.waitForURL(/\/namespaces\/default\/workflows\/[^/?]+\/[0-9a-f-]{36}/);
    // The test id and frame ids are the ones the UI's own end-to-end tests use.
    await page.getByTestId('user-metadata-tab').click();
    // The UI renders each markdown field inside an iframe of its own, so the text is not in the page's DOM.
    const summary = page.frameLocator('#user-metadata-summary').getByText(`curate ${CURATOR}`, { exact: true });
    await summary.waitFor({ state: 'visible' });
    // The workflow's last progress line, so the screenshot shows the finished job, not a frame still loading.
    const progress = page
      .frameLocator('#user-metadata-current-details')
      .getByText(new RegExp(`^${rows} of ${rows} requests settled`));
    await progress.waitFor({ state: 'visible' });
    await screenshot(page, 'workflow-summary');
  };
});
