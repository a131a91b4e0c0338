// Renders the API's OpenAPI document with Swagger UI. The page that loads
// this file is /api/docs, so "openapi.json" is /api/openapi.json.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The public validator badge would call a third-party server.
    validatorUrl: null,
  });
});
