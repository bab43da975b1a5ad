// A test host for the views, built like a chat client's: an MCP client to the server, an AppBridge per
// view, each view in a sandboxed iframe under the spec's default Content-Security-Policy.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const APP_MIME = "text/html;profile=mcp-app";
// The CSP a host applies to a view that declares no domains (MCP Apps, "Security").
const DEFAULT_CSP =
  "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; media-src 'self' data:; connect-src 'none'";
// The host's own script in each view, before the view's: what the CSP refuses there, for the tests to read.
const WATCH_CSP =
  "<script data-host>window.cspViolations = []; document.addEventListener('securitypolicyviolation', " +
  "(e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));</script>";
const THEMES = {
  light: {
    "--color-background-primary": "rgb(250, 249, 245)",
    "--color-text-primary": "rgb(20, 20, 19)",
    "--font-sans": "sans-serif",
  },
  dark: {
    "--color-background-primary": "rgb(38, 38, 36)",
    "--color-text-primary": "rgb(250, 249, 245)",
    "--font-sans": "sans-serif",
  },
};

const calls = []; // the tools/call requests views made, in order
const context = []; // the texts views put in the model's context (ui/update-model-context)
let client;

// The server is this page's own /mcp, or the one `?server=` names (another origin: CORS), with the
// bearer token `?token=` gives, as a hosted chat client sends it.
async function connect() {
  if (client) return client;
  const query = new URLSearchParams(location.search);
  const token = query.get("token");
  const requestInit = token ? { headers: { Authorization: `Bearer ${token}` } } : undefined;
  client = new Client({ name: "polar-mcp test host", version: "1.0.0" });
  const url = new URL(query.get("server") ?? "/mcp", location.href);
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit }));
  return client;
}

// `theme` null: a host that names no theme; `styled` false: one that sends none of its CSS variables.
function hostContext(theme, styled = true) {
  const context = { displayMode: "inline", availableDisplayModes: ["inline"], platform: "web", locale: "en-US" };
  if (theme) context.theme = theme;
  if (theme && styled) context.styles = { variables: THEMES[theme] };
  return context;
}

let styledHost = true;

// Show `tool` called with `args` the way a chat client does; resolves once the view has its result.
// A view that never connects (its script failed) rejects after `timeoutMs` instead of hanging the test.
async function show(tool, args, { theme = "light", styled = true, timeoutMs = 15000 } = {}) {
  styledHost = styled;
  const mcp = await connect();
  const { tools } = await mcp.listTools();
  const declared = tools.find((t) => t.name === tool);
  const uri = declared?._meta?.ui?.resourceUri;
  if (!uri) throw new Error(`${tool} declares no view`);
  const { contents } = await mcp.readResource({ uri });
  if (contents[0].mimeType !== APP_MIME) throw new Error(`${uri} is served as ${contents[0].mimeType}`);
  const html = contents[0].text.replace(
    "<head>",
    `<head>\n<meta http-equiv="Content-Security-Policy" content="${DEFAULT_CSP}">\n${WATCH_CSP}`,
  );

  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "allow-scripts");
  frame.title = declared.title ?? tool;
  document.getElementById("chat").replaceChildren(frame);

  // No client: the bridge forwards only what the handlers below allow, as a careful host does.
  const bridge = new AppBridge(
    null,
    { name: "polar-mcp test host", version: "1.0.0" },
    { openLinks: {}, serverTools: {}, logging: {}, updateModelContext: { text: {} } },
    { hostContext: hostContext(theme, styled) },
  );
  bridge.oncalltool = async (params) => {
    calls.push({ name: params.name, arguments: params.arguments ?? {} });
    return mcp.callTool(params);
  };
  bridge.onupdatemodelcontext = async (params) => {
    context.push((params.content ?? []).map((block) => block.text).join("\n"));
    return {};
  };
  bridge.onsizechange = ({ height }) => {
    if (height !== undefined) frame.style.height = `${Math.ceil(height)}px`;
  };
  const delivered = new Promise((resolve, reject) => {
    bridge.oninitialized = async () => {
      try {
        await bridge.sendToolInput({ arguments: args });
        const result = await mcp.callTool({ name: tool, arguments: args });
        await bridge.sendToolResult(result);
        resolve(result);
      } catch (error) {
        reject(error);
      }
    };
  });
  await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
  frame.srcdoc = html;
  window.bridge = bridge;
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the ${tool} view did not connect within ${timeoutMs} ms`)), timeoutMs);
  });
  const result = await Promise.race([delivered, late]).finally(() => clearTimeout(timer));
  return { isError: Boolean(result.isError), text: result.content.map((c) => c.text).join("\n") };
}

// Switch the host's theme while a view is showing, as when a person changes the app's appearance.
async function setTheme(theme) {
  await window.bridge.sendHostContextChange(hostContext(theme, styledHost));
}

// A call straight to the server, not through a view and not recorded: what the view should show.
async function call(tool, args) {
  const mcp = await connect();
  return mcp.callTool({ name: tool, arguments: args });
}

window.host = { show, setTheme, call, calls, context };
