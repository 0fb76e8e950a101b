// CSS imports in the playground (bundled by Vite).
declare module "*.css";
