// Calls to the server. Every call carries the session token the server put
// in the page's meta tag; a page from another origin cannot read it.

const token = document.querySelector('meta[name="palisade-token"]').content;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function call(method, path, body) {
  const headers = { "X-Palisade-Token": token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export function get(path, params) {
  const q = params ? "?" + new URLSearchParams(params).toString() : "";
  return call("GET", path + q);
}

export function post(path, body) {
  return call("POST", path, body);
}
