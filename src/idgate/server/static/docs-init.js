// Starts Swagger UI on /docs with idgate's own OpenAPI document. A file, not an inline script, so
// the page's Content-Security-Policy can allow scripts from this origin only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // "Try it out" would send credentials from a documentation page: off by default.
    supportedSubmitMethods: [],
    validatorUrl: null,
  });
});
