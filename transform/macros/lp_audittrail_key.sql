{% macro lp_audittrail_key(expressions) %}
  {#-
    A surrogate key that cannot collide for distinct parts: each part is written as its length
    in characters, a colon and its text, a null as `-` (which no written part starts with), so
    the text splits back into its parts one way only; that text is hashed (md5, hex). `a|b`+`c`
    and `a`+`b|c` give `3:a|b1:c` and `1:a3:b|c`.
  -#}
  {%- set parts = [] -%}
  {%- for expression in expressions -%}
    {%- set text = "cast(" ~ expression ~ " as " ~ dbt.type_string() ~ ")" -%}
    {%- do parts.append(
      "case when " ~ text ~ " is null then '-' else "
      ~ dbt.concat(["cast(" ~ dbt.length(text) ~ " as " ~ dbt.type_string() ~ ")", "':'", text])
      ~ " end"
    ) -%}
  {%- endfor -%}
  {{ dbt.hash(dbt.concat(parts) if parts | length > 1 else parts[0]) }}
{% endmacro %}


{% macro lp_audittrail_audited_element(expression) %}
  {#- The element (stream name, e.g. `skills`) an objectType belongs to; null for other types. -#}
  case lower(trim({{ expression }}))
  {%- for element, object_types in var('lp_audittrail_object_types').items() %}
    {%- for object_type in object_types %}
    when '{{ object_type | lower | replace("'", "''") }}' then '{{ element }}'
    {%- endfor %}
  {%- endfor %}
  end
{% endmacro %}


{% macro lp_audittrail_lower_list(values) %}
  {#- A SQL list of lower-cased, trimmed string literals. -#}
  ({%- for value in values -%}'{{ value | string | trim | lower | replace("'", "''") }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{% endmacro %}


{% macro lp_audittrail_null_safe_equal(left, right) %}
  {#- Equal, or both null (`is not distinct from`, which not every warehouse has). -#}
  ({{ left }} = {{ right }} or ({{ left }} is null and {{ right }} is null))
{% endmacro %}
