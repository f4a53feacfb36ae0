// The lab's GraphQL federation gateway: Hive Gateway's runtime over the lab's subgraphs.
//
//   node gateway.mjs --host 127.0.0.1 --port 8000
//       LABS_DEPENDENCIES   {"users-graph": {"http": "http://127.0.0.1:P"}, "orders-graph": {...}} (from the runtime)
//       LABS_TRACE_DIR      where to append the spans of traced requests (see labs/tracing)
//       LABS_GATEWAY_PERSISTED  a JSON file {sha256: document}: the persisted queries it serves over GET
//       LABS_GATEWAY_MAX_COST   the largest estimated cost of an operation it runs (demand control)
//
// At start it asks each subgraph for its SDL (`{ _service { sdl } }`), composes the supergraph with
// the Guild's federation composer, and serves it on /graphql. GET /supergraph answers the composed
// supergraph SDL (with its join__ directives: which subgraph resolves which field); GET /health is
// the liveness check. The Python side (labs/components/graphql/components.py) starts it as a lab
// component, ready once a real query through both subgraphs answers.
import { randomBytes } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

// Signals first. Hive's packages install SIGTERM/SIGINT listeners of their own when they load, and
// a process with a listener is no longer ended by the signal: without ours, a SIGTERM from the lab
// would leave the gateway running. So ours are in place before anything of Hive's is imported
// (hence the dynamic imports below), and they stop whatever has started so far.
let server = null;
let gateway = null;
let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 3000).unref(); // whatever is still open, do not outlive the lab
  server?.close();
  server?.closeAllConnections?.();
  try {
    await gateway?.dispose();
  } catch (error) {
    console.error(`gateway: while stopping on ${signal}: ${error.message}`);
  }
  process.exit(0);
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));

const { createGatewayRuntime } = await import("@graphql-hive/gateway-runtime");
const { default: httpTransport } = await import("@graphql-mesh/transport-http");
const { composeServices } = await import("@theguild/federation-composition");
const { parse } = await import("graphql");

const NAME = "graphql";
const TRACE_HEADER = "x-labs-trace";

const { values: cli } = parseArgs({
  options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string" } },
});
if (!cli.port) {
  console.error("gateway: --port is required");
  process.exit(2);
}
const dependencies = JSON.parse(process.env.LABS_DEPENDENCIES || "{}");
const subgraphs = Object.entries(dependencies).map(([name, ep]) => ({ name, url: `${ep.http}/graphql` }));
if (subgraphs.length === 0) {
  console.error("gateway: LABS_DEPENDENCIES names no subgraph; start it through the lab: labs.start('graphql')");
  process.exit(2);
}

// ---- composition ---------------------------------------------------------------------------------

async function subgraphSdl({ name, url }) {
  const answer = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "{ _service { sdl } }" }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await answer.json();
  if (!body?.data?._service?.sdl) {
    throw new Error(`${name} at ${url} gave no SDL: ${JSON.stringify(body).slice(0, 300)}`);
  }
  return body.data._service.sdl;
}

const services = [];
for (const subgraph of subgraphs) {
  services.push({ name: subgraph.name, url: subgraph.url, typeDefs: parse(await subgraphSdl(subgraph)) });
}
const composed = composeServices(services);
if (composed.errors?.length) {
  console.error("gateway: the subgraphs do not compose:");
  for (const error of composed.errors) console.error(`  - ${error.message}`);
  process.exit(1);
}
const supergraph = composed.supergraphSdl;

// ---- tracing: the gateway's calls to its subgraphs, as spans labs.trace can draw ------------------
// Forwarding the caller's header unchanged would make the subgraphs continue the *notebook's* span,
// and the gateway's own hop would never be recorded. So every subgraph call gets a span of its own:
// a new span id in the header it forwards, and one JSON line in LABS_TRACE_DIR when it finishes.

const traceDir = process.env.LABS_TRACE_DIR;
const spanFile = traceDir ? `${traceDir}/${NAME}-${process.pid}.jsonl` : null;
const calleeByUrl = new Map(subgraphs.map(({ name, url }) => [url, name]));
// Wall-clock nanoseconds as an integer string (a JS number cannot hold them exactly).
const originUs = BigInt(Math.round(performance.timeOrigin * 1000));
const nowNs = () => originUs * 1000n + BigInt(Math.round(performance.now() * 1e6));

function parseTrace(value) {
  const parts = (value || "").split(":");
  if (parts.length < 3 || !/^[0-9a-zA-Z]{1,128}$/.test(parts[0]) || !/^[0-9a-zA-Z]{1,128}$/.test(parts[1])) {
    return null;
  }
  return { traceId: parts[0], parentId: parts[1] };
}

function bodyBytes(body) {
  return typeof body === "string" ? Buffer.byteLength(body) : body?.byteLength ?? 0;
}

const tracePlugin = {
  onFetch({ url, options, setOptions, context }) {
    const incoming = context?.request?.headers?.get(TRACE_HEADER);
    const trace = spanFile && parseTrace(incoming);
    if (!trace) return;
    const spanId = randomBytes(8).toString("hex");
    const headers = new Headers(options.headers || {});
    headers.set(TRACE_HEADER, `${trace.traceId}:${spanId}:${NAME}`);
    setOptions({ ...options, headers: Object.fromEntries(headers.entries()) });
    const start = nowNs();
    const requestBytes = bodyBytes(options.body);
    return async ({ response }) => {
      let responseBytes = Number(response.headers.get("content-length") || NaN);
      if (Number.isNaN(responseBytes)) responseBytes = (await response.clone().arrayBuffer()).byteLength;
      const span = {
        trace_id: trace.traceId, span_id: spanId, parent_id: trace.parentId, caller: NAME,
        callee: calleeByUrl.get(url) || new URL(url).host, transport: "http",
        operation: `POST ${new URL(url).pathname}`, status: response.status,
        request_bytes: requestBytes, response_bytes: responseBytes, pid: process.pid,
      };
      const line = JSON.stringify(span).slice(0, -1) + `,"start_ns":${start},"end_ns":${nowNs()}}\n`;
      try {
        appendFileSync(spanFile, line); // one write with O_APPEND: whole lines, as labs.tracing writes them
      } catch (error) {
        console.error(`gateway: could not write a span: ${error.message}`);
      }
    };
  },
};

// ---- persisted queries: documents known in advance, asked for by their sha256 over GET -----------

const persisted = process.env.LABS_GATEWAY_PERSISTED
  ? JSON.parse(readFileSync(process.env.LABS_GATEWAY_PERSISTED, "utf8"))
  : {};

// ---- the gateway ---------------------------------------------------------------------------------

gateway = createGatewayRuntime({
  supergraph,
  transports: { http: httpTransport },
  logging: process.env.LABS_GATEWAY_LOG_LEVEL || "warn",
  healthCheckEndpoint: "/health",
  landingPage: false,
  graphiql: { title: "ticketing graph (lab)" },
  // A cost limit (Hive's demand control): every object a query asks for costs 1 and a list counts
  // as 10 of its items, so each level of nested lists multiplies the estimate by about 10. A
  // subgraph request whose estimate is above the maximum is not sent; its fields answer null with
  // a COST_ESTIMATED_TOO_EXPENSIVE error.
  demandControl: {
    maxCost: Number(process.env.LABS_GATEWAY_MAX_COST || 1000),
    listSize: 10,
    includeExtensionMetadata: false, // no cost figures in every answer: they would inflate its bytes
  },
  persistedDocuments: {
    getPersistedOperation: (key) => persisted[key] ?? null,
    allowArbitraryDocuments: true,
  },
  plugins: () => [tracePlugin],
});

server = createServer((request, response) => {
  if (request.method === "GET" && request.url === "/supergraph") {
    response.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    response.end(supergraph);
    return;
  }
  gateway(request, response);
});

server.listen(Number(cli.port), cli.host, () => {
  const over = subgraphs.map(({ name, url }) => `${name} (${url})`).join(", ");
  console.log(`gateway: http://${cli.host}:${cli.port}/graphql over ${over}; node ${process.version}`);
});
