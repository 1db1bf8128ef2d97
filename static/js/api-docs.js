/* Starts Swagger UI on the OpenAPI document named by the container's data-spec-url.
 * validatorUrl: null, or Swagger UI asks validator.swagger.io for a badge. */
(function () {
  "use strict";
  var container = document.getElementById("swagger-ui");
  if (!container || typeof SwaggerUIBundle === "undefined") { return; }
  window.ui = SwaggerUIBundle({
    url: container.getAttribute("data-spec-url"),
    domNode: container,
    validatorUrl: null,
    deepLinking: true
  });
}());
