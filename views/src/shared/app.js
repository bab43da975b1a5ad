// Connects a view to its host through the App SDK: theme, tool input and results, tool calls.
import { App, applyDocumentTheme, applyHostFonts, applyHostStyleVariables } from "./app-sdk.js";

// Apply what the host says about its look: light or dark, its CSS variables and fonts, safe areas.
function applyHostContext(context) {
  if (!context) return;
  if (context.theme) applyDocumentTheme(context.theme);
  if (context.styles?.variables) applyHostStyleVariables(context.styles.variables);
  if (context.styles?.css?.fonts) applyHostFonts(context.styles.css.fonts);
  const insets = context.safeAreaInsets;
  if (insets) {
    const style = document.body.style;
    style.paddingTop = `${insets.top}px`;
    style.paddingRight = `${insets.right}px`;
    style.paddingBottom = `${insets.bottom}px`;
    style.paddingLeft = `${insets.left}px`;
  }
}

// The text blocks of a tool result, which carry the tool's message when it failed.
export function resultText(result) {
  return (result?.content ?? [])
    .filter((block) => block.type === "text")
    .map((block) => block.text)
    .join("\n")
    .trim();
}

// A tool result as the view uses it: {error} when the tool failed, else {data} (its structured content).
export function readResult(result) {
  if (!result || result.isError || !result.structuredContent) {
    return { error: resultText(result) || "The tool returned no result." };
  }
  return { data: result.structuredContent };
}

// What the person now sees, in the words the model reads for that call, so the next turn knows it.
function tellModel(app, tool, args, result) {
  if (!app.getHostCapabilities()?.updateModelContext?.text) return;
  const text = resultText(result);
  if (!text) return;
  const intro = `The person used the ${tool} view in the chat; it now shows ${tool} ${JSON.stringify(args)}:`;
  app.updateModelContext({ content: [{ type: "text", text: `${intro}\n${text}` }] }).catch(() => {});
}

// Start the view: `handlers.input(arguments)` and `handlers.result({data}|{error})` as the host sends them.
export function startView(name, handlers) {
  const app = new App({ name, version: "1.0.0" }, {}, { autoResize: true });
  app.ontoolinput = (params) => handlers.input?.(params.arguments ?? {});
  app.ontoolresult = (result) => handlers.result(readResult(result));
  app.ontoolcancelled = () => handlers.result({ error: "The call was cancelled." });
  app.onhostcontextchanged = applyHostContext;
  app.onteardown = async () => ({});
  app.onerror = (error) => console.error(error);
  app.connect().then(() => applyHostContext(app.getHostContext()));
  return {
    // Call a server tool through the host; resolves to {data} or {error}, never throws.
    async call(tool, args) {
      let result;
      try {
        result = await app.callServerTool({ name: tool, arguments: args });
      } catch (error) {
        return { error: error?.message || String(error) };
      }
      tellModel(app, tool, args, result);
      return readResult(result);
    },
  };
}
