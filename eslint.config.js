import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
      "no-console": ["error", { allow: ["error"] }],
    },
  },
  { files: ["src/cli/**", "bench/**", "examples/**", "test/**"], rules: { "no-console": "off" } },
  {
    // The dashboard runs in the browser: its globals, by name.
    files: ["src/ui/**"],
    languageOptions: {
      globals: Object.fromEntries(["sessionStorage", "fetch", "TextDecoder", "AbortController", "location", "addEventListener", "removeEventListener", "document", "confirm", "FormData", "URLSearchParams", "setTimeout", "clearTimeout"].map((name) => [name, "readonly"])),
    },
  },
);
