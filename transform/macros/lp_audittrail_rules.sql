{#-
  The rules that turn the server's words into the models' few values, each in one place:
  the action a change made, whether it is to one property or to the object as a whole, and
  what kind of originator made it. The vars they read are in dbt_project.yml.
-#}

{% macro lp_audittrail_spelling(expression) %}
  {#- A spelling as it is compared: trimmed, lower-cased, `_` and `-` read as spaces. -#}
  replace(replace(lower(trim({{ expression }})), '_', ' '), '-', ' ')
{% endmacro %}


{% macro lp_audittrail_action(expression) %}
  {#-
    add, edit, delete or other, from the actionType as the server spells it (var
    lp_audittrail_action_spellings: Add, Add New, ADD, add_new, ... are all add). A spelling
    not listed, or none, is other: it lands, and the warn-level test on `action` names it.
  -#}
  case {{ lp_audittrail_spelling(expression) }}
  {%- for action, spellings in var('lp_audittrail_action_spellings').items() %}
    {%- for spelling in spellings %}
    when '{{ spelling | string | trim | lower | replace("_", " ") | replace("-", " ") | replace("'", "''") }}' then '{{ action }}'
    {%- endfor %}
  {%- endfor %}
    else 'other'
  end
{% endmacro %}


{% macro lp_audittrail_is_field_change(element) %}
  {#- A change to one property: its element is neither null, empty nor N/A (in any case). -#}
  coalesce(upper(trim({{ element }})) not in ('', 'N/A'), false)
{% endmacro %}


{% macro lp_audittrail_is_automatic() %}
  {#-
    Whether a change was made automatically rather than by a person: the API marks no record
    as automatic (automaticUpdates only filters), so the rule reads the originator fields.
    A change is automatic when a column named in var lp_audittrail_automatic_originators holds
    one of the values listed for it (trimmed, case-blind).
  -#}
  {%- set tests = [] -%}
  {%- for column, values in (var('lp_audittrail_automatic_originators') or {}).items() -%}
    {%- if values -%}
      {%- do tests.append("lower(trim(" ~ column ~ ")) in " ~ lp_audittrail_lower_list(values)) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if tests -%}
    coalesce({{ tests | join(' or ') }}, false)
  {%- else -%}
    false
  {%- endif -%}
{% endmacro %}


{% macro lp_audittrail_first_item(list) -%}
  {#- The text of a comma-separated list before its first comma (all of it without one). -#}
  case when {{ dbt.position("','", list) }} = 0 then {{ list }}
      else substr({{ list }}, 1, {{ dbt.position("','", list) }} - 1) end
{%- endmacro %}


{% macro lp_audittrail_after_first_item(list) -%}
  {#- The text of a comma-separated list after its first comma; null without one. -#}
  case when {{ dbt.position("','", list) }} = 0 then null
      else substr({{ list }}, {{ dbt.position("','", list) }} + 1) end
{%- endmacro %}
