-- The gateway's part in labs.trace: one span per traced call it makes to a service.
--
-- Envoy runs this in its Lua filter, placed after the JSON->gRPC transcoder, so it sees the call
-- as the service gets it: the gRPC path and the protobuf body (or the plain HTTP call to the BFF).
-- A request carrying `x-labs-trace: <trace>:<parent>:<caller>` gets a span id of its own, the header
-- is rewritten to name the gateway as the caller (so the service's own calls nest under this one),
-- and when the answer has been read the span is appended as one JSON line to
-- $LABS_TRACE_DIR/<component>-<pid>.jsonl: the same files and format as labs/tracing writes.
-- Requests without the header pass untouched. Written here because Envoy's own tracers speak
-- Zipkin / OpenTelemetry, not the lab's span files.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } labs_timespec;
int clock_gettime(int clock_id, labs_timespec *tp);
int getpid(void);
]]

local NAME = os.getenv("LABS_COMPONENT") or "gateway"
local DIR = os.getenv("LABS_TRACE_DIR")
local PID = ffi.C.getpid()
local NS = "labs.trace"
local clock = ffi.new("labs_timespec")
local file = nil

local function now_ns()
  ffi.C.clock_gettime(0, clock) -- CLOCK_REALTIME: the clock time.time_ns() reads in Python
  return string.format("%d%09d", tonumber(clock.tv_sec), tonumber(clock.tv_nsec))
end

ffi.C.clock_gettime(0, clock)
math.randomseed(tonumber(clock.tv_nsec) + PID * 7919)

local function new_id()
  return string.format("%04x%04x%04x%04x", math.random(0, 65535), math.random(0, 65535),
    math.random(0, 65535), math.random(0, 65535))
end

local GRPC_CODES = { [0] = "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
  "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
  "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED" }

local function quoted(text)
  return '"' .. string.gsub(tostring(text), '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

local function write(line)
  if DIR == nil then
    return
  end
  if file == nil then
    file = io.open(DIR .. "/" .. NAME .. "-" .. PID .. ".jsonl", "a")
    if file == nil then
      DIR = nil
      return
    end
    file:setvbuf("no") -- one write per line: whole lines for readers in other processes
  end
  file:write(line)
end

function envoy_on_request(handle)
  local header = handle:headers():get("x-labs-trace")
  if header == nil then
    return
  end
  local trace_id, parent_id = string.match(header, "^(%w+):(%w+):")
  if trace_id == nil then
    return
  end
  local span_id = new_id()
  local headers = handle:headers()
  local grpc = string.find(headers:get("content-type") or "", "application/grpc", 1, true) == 1
  local path = headers:get(":path") or ""
  local operation = grpc and path or ((headers:get(":method") or "") .. " " .. string.gsub(path, "%?.*", ""))
  headers:replace("x-labs-trace", trace_id .. ":" .. span_id .. ":" .. NAME)
  local body = handle:body()
  local size = body and body:length() or 0
  if grpc and size >= 5 then
    size = size - 5 -- the message, without gRPC's 5-byte length prefix
  end
  local meta = handle:streamInfo():dynamicMetadata()
  meta:set(NS, "trace_id", trace_id)
  meta:set(NS, "span_id", span_id)
  meta:set(NS, "parent_id", parent_id)
  meta:set(NS, "operation", operation)
  meta:set(NS, "transport", grpc and "grpc" or "http")
  meta:set(NS, "request_bytes", tostring(size))
  meta:set(NS, "start_ns", now_ns())
end

function envoy_on_response(handle)
  local span = handle:streamInfo():dynamicMetadata():get(NS)
  if span == nil or span["trace_id"] == nil then
    return
  end
  -- Read the headers before handle:body(): a header object is invalid once the filter has waited.
  local headers = handle:headers()
  local status = tonumber(headers:get(":status")) or 0
  local code = headers:get("grpc-status") -- a trailers-only answer (an error) has it here
  local body = handle:body()
  local size = body and body:length() or 0
  if span["transport"] == "grpc" then
    if code == nil then
      local trailers = handle:trailers()
      code = trailers and trailers:get("grpc-status")
    end
    status = GRPC_CODES[tonumber(code or "")] or ("HTTP " .. status)
    if size >= 5 then
      size = size - 5
    end
  end
  local callee = handle:metadata():get("callee") or "upstream"
  local status_json = type(status) == "number" and tostring(status) or quoted(status)
  write(string.format(
    '{"trace_id":%s,"span_id":%s,"parent_id":%s,"caller":%s,"callee":%s,"transport":%s,' ..
    '"operation":%s,"status":%s,"request_bytes":%s,"response_bytes":%d,"start_ns":%s,' ..
    '"end_ns":%s,"pid":%d}\n',
    quoted(span["trace_id"]), quoted(span["span_id"]), quoted(span["parent_id"]), quoted(NAME),
    quoted(callee), quoted(span["transport"]), quoted(span["operation"]), status_json,
    span["request_bytes"], size, span["start_ns"], now_ns(), PID))
end
