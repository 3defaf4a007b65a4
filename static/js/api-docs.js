// Swagger UI over our own OpenAPI description; "try it out" sends the page's CSRF token.
(function () {
  "use strict";
  var el = document.getElementById("swagger-ui");
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  window.ui = SwaggerUIBundle({
    url: el.dataset.specUrl,
    domNode: el,
    deepLinking: true,
    requestInterceptor: function (req) { req.headers["X-CSRFToken"] = csrf; return req; }
  });
})();
