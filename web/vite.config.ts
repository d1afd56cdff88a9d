import { defineConfig } from "vite";

// The gateway serves dist/ at "/"; hashed files go to dist/assets/ (served immutable).
export default defineConfig({
  base: "/",
  build: { outDir: "dist", assetsDir: "assets", target: "es2022", sourcemap: true },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080", "/config.json": "http://127.0.0.1:8080" },
  },
});
