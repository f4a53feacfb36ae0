// One gRPC-Web call, made the way a browser app makes it: Connect's gRPC-Web transport over fetch()
// (HTTP/1.1, the status in a trailer frame inside the body). Lesson 08 runs it under Node, which
// has the same fetch() a browser has.
//
//   node grpc_web_call.mjs DESCRIPTORS.pb BASE_URL ticketing.v1.Concerts GetConcert '{"concert_id":"c1"}' \
//       authorization='Bearer ey...'
//
// The messages come from the compiled .proto (a FileDescriptorSet), so no generated code is needed.
// Prints one JSON line: {ok, response | code+message, wire: what fetch sent and got back}.
import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary, fromJson, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

const [descriptors, baseUrl, serviceName, methodName, requestJson, ...headerArgs] = process.argv.slice(2);
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(descriptors)));
const service = registry.getService(serviceName);
if (!service) throw new Error(`no service ${serviceName} in ${descriptors}`);
const method = service.methods.find((m) => m.name === methodName);
if (!method) throw new Error(`${serviceName} has no method ${methodName}`);
const headers = Object.fromEntries(headerArgs.map((arg) => {
  const at = arg.indexOf("=");
  return [arg.slice(0, at), arg.slice(at + 1)];
}));

// What crossed the wire, as the page's fetch() saw it.
const wire = {};
const watchedFetch = async (input, init) => {
  wire.url = String(input);
  wire.method = init.method;
  wire.request_content_type = new Headers(init.headers).get("content-type");
  wire.request_bytes = init.body ? init.body.byteLength : 0;
  const answer = await fetch(input, init);
  wire.status = answer.status;
  wire.response_content_type = answer.headers.get("content-type");
  return answer;
};

const transport = createGrpcWebTransport({ baseUrl, fetch: watchedFetch });
const client = createClient(service, transport);
const request = fromJson(method.input, JSON.parse(requestJson));
const grpcName = (code) => Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
const asJson = (message) => toJson(method.output, message, { useProtoFieldName: true });

try {
  let response;
  if (method.methodKind === "server_streaming") {
    response = [];
    for await (const message of client[method.localName](request, { headers, timeoutMs: 5000 })) {
      response.push(asJson(message));
    }
  } else {
    response = asJson(await client[method.localName](request, { headers, timeoutMs: 5000 }));
  }
  console.log(JSON.stringify({ ok: true, response, wire }));
} catch (err) {
  const error = ConnectError.from(err);
  console.log(JSON.stringify({ ok: false, code: grpcName(error.code), message: error.rawMessage, wire }));
}
