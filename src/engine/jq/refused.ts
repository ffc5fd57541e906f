/**
 * The parts of jq a payload filter may not use. They read or act beyond the one payload in hand
 * (the next inputs, the process's exit, its environment, modules on disk), which a filter run
 * over many payloads at once in one jq cannot give as jq on that payload alone would.
 */
export const REFUSED_FUNCTIONS: Readonly<Record<string, string>> = {
  input: "reads the next payload",
  inputs: "reads the next payloads",
  input_line_number: "tells a position in the input stream",
  halt: "stops jq itself",
  halt_error: "stops jq itself",
  env: "reads the environment",
  $ENV: "reads the environment",
  get_search_list: "belongs to jq's module system",
  get_prog_origin: "belongs to jq's module system",
  get_jq_origin: "belongs to jq's module system",
  modulemeta: "belongs to jq's module system",
  import: "loads modules from disk",
  include: "loads modules from disk",
};

const IDENTIFIER = /[a-zA-Z_][a-zA-Z0-9_]*(?:::[a-zA-Z_][a-zA-Z0-9_]*)*/y;

interface Token {
  text: string;
  kind: "name" | "variable" | "field" | "punct";
}

/**
 * The names a filter uses, as tokens: strings are skipped except the code in their `\(...)`,
 * comments are skipped, `.name` is a field. Lexing only: the filter has already compiled.
 */
function tokens(source: string): Token[] {
  const found: Token[] = [];
  let position = 0;
  /** One entry per `\(` being read inside a string: the paren depth to return to its string at. */
  const interpolations: number[] = [];
  let depth = 0;
  const readString = (): void => {
    // position is just after an opening quote (or the `)` that closes an interpolation)
    while (position < source.length) {
      const char = source[position]!;
      if (char === "\\") {
        if (source[position + 1] === "(") {
          position += 2;
          interpolations.push(depth);
          depth++;
          found.push({ text: "(", kind: "punct" });
          return;
        }
        position += 2;
        continue;
      }
      position++;
      if (char === '"') return;
    }
  };
  while (position < source.length) {
    const char = source[position]!;
    if (/\s/.test(char)) {
      position++;
    } else if (char === "#") {
      const end = source.indexOf("\n", position);
      position = end < 0 ? source.length : end + 1;
    } else if (char === '"') {
      position++;
      readString();
    } else if (char === "$" || char === "." || char === "@") {
      IDENTIFIER.lastIndex = position + 1;
      const match = IDENTIFIER.exec(source);
      if (match) {
        found.push({ text: char + match[0], kind: char === "$" ? "variable" : char === "." ? "field" : "punct" });
        position = IDENTIFIER.lastIndex;
      } else {
        found.push({ text: char, kind: "punct" });
        position++;
      }
    } else {
      IDENTIFIER.lastIndex = position;
      const match = IDENTIFIER.exec(source);
      if (match) {
        found.push({ text: match[0], kind: "name" });
        position = IDENTIFIER.lastIndex;
        continue;
      }
      if (char === "(" || char === "[" || char === "{") depth++;
      if (char === ")" || char === "]" || char === "}") {
        depth--;
        if (char === ")" && interpolations.length > 0 && interpolations[interpolations.length - 1] === depth) {
          interpolations.pop();
          found.push({ text: ")", kind: "punct" });
          position++;
          readString();
          continue;
        }
      }
      found.push({ text: char, kind: "punct" });
      position++;
    }
  }
  return found;
}

/**
 * The first refused builtin a filter calls, if any. A name the filter defines itself (with `def`,
 * or as a parameter) is its own; `.input`, `$__loc__` and object keys are not calls.
 */
export function refusedUse(source: string): string | undefined {
  const all = tokens(source);
  const own = new Set<string>();
  all.forEach((token, index) => {
    const before = all[index - 1];
    if (token.kind === "name" && before?.text === "def") own.add(token.text);
    if (token.kind === "variable" && before?.text === "as") own.add(token.text);
  });
  // parameters: def f(a; $b): names inside the parens right after a def's name
  all.forEach((token, index) => {
    if (token.text !== "def" || all[index + 2]?.text !== "(") return;
    for (let at = index + 3; at < all.length && all[at]!.text !== ")"; at++) {
      if (all[at]!.kind === "name" || all[at]!.kind === "variable") own.add(all[at]!.text);
    }
  });
  const brackets: string[] = [];
  for (let index = 0; index < all.length; index++) {
    const token = all[index]!;
    if (token.kind === "punct") {
      if (token.text === "(" || token.text === "[" || token.text === "{") brackets.push(token.text);
      if (token.text === ")" || token.text === "]" || token.text === "}") brackets.pop();
      continue;
    }
    if (token.kind === "field" || own.has(token.text) || !(token.text in REFUSED_FUNCTIONS)) continue;
    const before = all[index - 1]?.text;
    const after = all[index + 1]?.text;
    if (before === "def") continue;
    const keyPosition = brackets[brackets.length - 1] === "{" && (before === "{" || before === ",");
    if (keyPosition && (token.kind === "name" || after === ":")) continue;
    return token.text;
  }
  return undefined;
}
